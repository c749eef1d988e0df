/// A report that cannot be read, rendered or written, with what went wrong and where.
public struct ReportError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file or JSON key the error is about, empty when there is none.
    public let subject: String
    /// What went wrong.
    public let message: String

    public init(_ subject: String, _ message: String) {
        self.subject = subject
        self.message = message
    }

    public var description: String { subject.isEmpty ? message : "\(subject): \(message)" }
}
