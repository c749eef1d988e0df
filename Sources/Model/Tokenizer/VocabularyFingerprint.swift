import Foundation

/// The vocabulary a model was written with, recorded in its model.safetensors metadata, so that a
/// vocab.txt from another model (the original one beside a vocabulary-pruned model, say, where ids
/// would silently name other rows) is an error that says so instead of wrong predictions.
///
/// Every folder EdgeDistill writes carries it; folders from elsewhere have none and are checked by
/// size only (`checkVocabulary(of:directory:)`).
public enum VocabularyFingerprint {
    static let metadataKey = "edgedistill_vocabulary"

    /// FNV-1a (64-bit) of the file's bytes, with its line count: "lines:hex"; nil when unreadable.
    static func of(file: String) -> String? {
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325, lines = 0
        for byte in data {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            if byte == UInt8(ascii: "\n") { lines += 1 }
        }
        return "\(lines):" + String(hash, radix: 16)
    }

    /// The metadata entry for the vocab.txt in `folder` (empty when it has none).
    static func metadata(vocabularyIn folder: String) -> [String: String] {
        of(file: (folder as NSString).appendingPathComponent("vocab.txt")).map { [metadataKey: $0] } ?? [:]
    }

    /// Throws when `directory`'s vocab.txt is not the one its model was written with.
    static func check(directory: String, metadata: [String: String]) throws {
        guard let expected = metadata[metadataKey] else { return }
        let file = (directory as NSString).appendingPathComponent("vocab.txt")
        guard let found = of(file: file), found != expected else { return }
        throw ModelError(file: file, "is not the vocabulary this model was written with (\(found.split(separator: ":")[0]) lines, "
            + "the model's had \(expected.split(separator: ":")[0])): it comes from another model; put back the vocab.txt written with this model")
    }
}
