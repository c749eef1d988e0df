/// An error about a model file a user gave us: which file, what is wrong, what was expected.
///
/// Every loader in `Model` throws this type so the CLI can print one clear line and exit non-zero.
public struct ModelError: Error, CustomStringConvertible, Equatable {
    /// The file the problem is in (a path as the user gave it), when there is one.
    public let file: String?
    /// What is wrong and, where it helps, what was expected.
    public let message: String

    public init(file: String? = nil, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String {
        if let file { return "\(file): \(message)" }
        return message
    }
}
