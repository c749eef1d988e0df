import Foundation

/// Writing a complete Hugging Face model folder: the model, and the tokenizer files transformers'
/// `AutoTokenizer` needs beside it.
extension SequenceClassifier {
    /// Writes `config.json`, `model.safetensors`, `vocab.txt` (copied from `vocabularyFrom`),
    /// `tokenizer_config.json` and `special_tokens_map.json` into `directory`, replacing what was
    /// there only once everything is written (a sibling folder is filled, then swapped in).
    ///
    /// A quantized model is written in its scheme: `saveInt8Folder` or `saveFP16Folder` (which copy
    /// the tokenizer files found beside `vocabularyFrom`).
    public func saveFolder(_ directory: String, vocabularyFrom source: String, maxLength: Int = 512) throws {
        switch quantization {
        case .int8Dynamic: return try saveInt8Folder(directory, vocabularyFrom: source)
        case .fp16: return try saveFP16Folder(directory, vocabularyFrom: source)
        case .none: break
        }
        let fm = FileManager.default
        let partial = directory + ".partial"
        try? fm.removeItem(atPath: partial)
        try save(directory: partial, metadata: VocabularyFingerprint.metadata(vocabularyIn: source))
        let vocab = (source as NSString).appendingPathComponent("vocab.txt")
        do {
            try fm.copyItem(atPath: vocab, toPath: (partial as NSString).appendingPathComponent("vocab.txt"))
            let tokenizerConfig: [String: Any] = [
                "tokenizer_class": "BertTokenizer", "do_lower_case": true, "tokenize_chinese_chars": true,
                "model_max_length": maxLength, "unk_token": "[UNK]", "sep_token": "[SEP]",
                "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]",
            ]
            let special = ["unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                           "cls_token": "[CLS]", "mask_token": "[MASK]"]
            try JSONSerialization.data(withJSONObject: tokenizerConfig, options: [.prettyPrinted, .sortedKeys])
                .write(to: URL(fileURLWithPath: (partial as NSString).appendingPathComponent("tokenizer_config.json")))
            try JSONSerialization.data(withJSONObject: special, options: [.prettyPrinted, .sortedKeys])
                .write(to: URL(fileURLWithPath: (partial as NSString).appendingPathComponent("special_tokens_map.json")))
            let old = directory + ".old"
            try? fm.removeItem(atPath: old)
            if fm.fileExists(atPath: directory) { try fm.moveItem(atPath: directory, toPath: old) }
            try fm.moveItem(atPath: partial, toPath: directory)
            try? fm.removeItem(atPath: old)
        } catch {
            try? fm.removeItem(atPath: partial)
            throw ModelError(file: directory, "cannot write the model folder: \(error.localizedDescription)")
        }
    }
}

/// Bytes on disk of a file, or of every file in a folder.
public func diskSize(_ path: String) -> Int {
    let fm = FileManager.default
    var isDirectory: ObjCBool = false
    guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else { return 0 }
    if !isDirectory.boolValue { return (try? fm.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
    return ((try? fm.subpathsOfDirectory(atPath: path)) ?? []).reduce(0) {
        $0 + ((try? fm.attributesOfItem(atPath: (path as NSString).appendingPathComponent($1))[.size] as? Int) ?? 0)
    }
}
