import Foundation

// The int8-dynamic file: `model.safetensors` with DistilBERT's Hugging Face names
// (`distilbert.` prefix except the head) and, for each linear layer X (q_lin, k_lin, v_lin stored
// apart as transformers has them):
//   X.weight        I8  (O, I)  symmetric per output channel
//   X.weight_scale  F32 (O)     w ~= weight * weight_scale[o]
//   X.bias          F32 (O)
// With int8 embeddings, `distilbert.embeddings.word_embeddings.weight` is I8 (V, C) with
// `...word_embeddings.weight_scale` F32 (V); every other tensor is F32. The metadata names the
// scheme (see `QuantizationScheme`), the head activation and a checksum. `config.json`, `vocab.txt`
// and the tokenizer files sit beside it as in any model folder.

extension SequenceClassifier {
    static func int8FileName(_ internalName: String) -> String {
        internalName.hasPrefix("pre_classifier") || internalName.hasPrefix("classifier") ? internalName : "distilbert." + internalName
    }

    /// The tensors of an int8 model's `model.safetensors`, in the layout described at the top of this file.
    func int8Tensors() -> [SafetensorsWriter.Tensor] {
        var out: [SafetensorsWriter.Tensor] = []
        func float(_ name: String, _ shape: [Int], _ p: UnsafePointer<Float>) {
            out.append(.float32(name: Self.int8FileName(name), shape: shape,
                                values: Array(UnsafeBufferPointer(start: p, count: shape.reduce(1, *)))))
        }
        func int8(_ name: String, _ shape: [Int], _ p: UnsafePointer<Int8>) {
            let bytes = UnsafeRawBufferPointer(start: p, count: shape.reduce(1, *))
            out.append(.init(name: Self.int8FileName(name), dtype: .i8, shape: shape, bytes: Array(bytes)))
        }
        // One layer of the model's (fused q|k|v for attention) stored as rows [first, first + O).
        func linear(_ name: String, _ layer: LinearLayer, rows: Range<Int>) {
            guard let layer = layer.int8 else { preconditionFailure("\(name) is not int8 in an int8 model") }
            let i = layer.inputs
            int8(name + ".weight", [rows.count, i], layer.weight + rows.lowerBound * i)
            float(name + ".weight_scale", [rows.count], layer.scales + rows.lowerBound)
            float(name + ".bias", [rows.count], layer.bias + rows.lowerBound)
        }
        func norm(_ name: String) { float(name, [config.hiddenSize], parameter(name)) }
        let (c, v) = (config.hiddenSize, config.vocabularySize)
        switch weights.words {
        case .float(let table):
            float("embeddings.word_embeddings.weight", [v, c], table)
        case .int8(let words):
            words.table.withUnsafeBufferPointer { int8("embeddings.word_embeddings.weight", [v, c], $0.baseAddress!) }
            words.scales.withUnsafeBufferPointer { float("embeddings.word_embeddings.weight_scale", [v], $0.baseAddress!) }
        }
        float("embeddings.position_embeddings.weight", [config.maxPositions, c], weights.positions)
        norm("embeddings.LayerNorm.weight")
        norm("embeddings.LayerNorm.bias")
        for (l, layer) in weights.layers.enumerated() {
            let p = "transformer.layer.\(l).", a = config.attentionWidth(l)
            linear(p + "attention.q_lin", layer.qkv, rows: 0..<a)
            linear(p + "attention.k_lin", layer.qkv, rows: a..<(2 * a))
            linear(p + "attention.v_lin", layer.qkv, rows: (2 * a)..<(3 * a))
            linear(p + "attention.out_lin", layer.out, rows: 0..<c)
            linear(p + "ffn.lin1", layer.ffn1, rows: 0..<layer.ffn1.outputs)
            linear(p + "ffn.lin2", layer.ffn2, rows: 0..<c)
            for name in ["sa_layer_norm.weight", "sa_layer_norm.bias", "output_layer_norm.weight", "output_layer_norm.bias"] {
                norm(p + name)
            }
        }
        linear("pre_classifier", weights.preClassifier, rows: 0..<c)
        linear("classifier", weights.classifier, rows: 0..<config.labelCount)
        return out
    }

    /// Writes an int8 model as a complete folder (config, the int8-dynamic safetensors described
    /// above, vocabulary and tokenizer files copied from `vocabularyFrom`), swapped in only once
    /// complete. `saveFolder` calls it for an int8 model.
    public func saveInt8Folder(_ directory: String, vocabularyFrom source: String) throws {
        guard quantization == .int8Dynamic else {
            throw ModelError(file: directory, "saveInt8Folder needs an int8 model (quantized(.int8Dynamic)), not a \(quantization.rawValue) one")
        }
        let tensors = int8Tensors()
        let metadata = ["format": "pt", QuantizationScheme.metadataKey: QuantizationScheme.int8Dynamic.rawValue,
                        QuantizationScheme.embeddingsKey: int8Embeddings ? "true" : "false",
                        QuantizationScheme.headKey: headActivation.rawValue,
                        QuantizationScheme.checksumKey: QuantizationChecksum.of(tensors)]
            .merging(VocabularyFingerprint.metadata(vocabularyIn: source)) { a, _ in a }
        var config = self.config
        config.modelType = .distilbert
        config.typeVocabularySize = 0
        config.architectures = ["DistilBertForSequenceClassification"]
        try writeModelFolder(directory, vocabularyFrom: source) { partial in
            try SafetensorsWriter.write(tensors, metadata: metadata,
                                        to: (partial as NSString).appendingPathComponent("model.safetensors"))
            try config.write(directory: partial)
        }
    }

    /// Reads an int8 folder written by `saveInt8Folder`; every tensor's presence, type and shape is
    /// checked, and the checksum, so a damaged file is an error that names the file and the tensor.
    public static func loadInt8(directory: String) throws -> SequenceClassifier {
        let config = try ModelConfig.load(directory: directory)
        let path = (directory as NSString).appendingPathComponent("model.safetensors")
        let file = try SafetensorsFile(path: path)
        try VocabularyFingerprint.check(directory: directory, metadata: file.metadata)
        let scheme = try QuantizationScheme(metadata: file.metadata, file: path)
        guard scheme == .int8Dynamic else {
            throw ModelError(file: path, "expected quantization scheme 'int8-dynamic' in metadata key '\(QuantizationScheme.metadataKey)', found '\(scheme.rawValue)'")
        }
        guard file.metadata[QuantizationScheme.checksumKey] != nil else {
            throw ModelError(file: path, "missing metadata key '\(QuantizationScheme.checksumKey)'")
        }
        try QuantizationChecksum.verify(file)
        let headName = file.metadata[QuantizationScheme.headKey] ?? "relu"
        guard let head = SequenceClassifier.HeadActivation(rawValue: headName) else {
            throw ModelError(file: path, "metadata key '\(QuantizationScheme.headKey)' is '\(headName)'; expected relu or tanh")
        }
        let embeddingsFlag = file.metadata[QuantizationScheme.embeddingsKey] ?? "false"
        guard embeddingsFlag == "true" || embeddingsFlag == "false" else {
            throw ModelError(file: path, "metadata key '\(QuantizationScheme.embeddingsKey)' is '\(embeddingsFlag)'; expected true or false")
        }

        func info(_ name: String, _ dtype: DType, _ shape: [Int]) throws -> TensorInfo {
            let key = int8FileName(name)
            guard let info = file.info(key) else { throw ModelError(file: path, "missing tensor '\(key)'") }
            guard info.dtype == dtype, info.shape == shape else {
                throw ModelError(file: path, "tensor '\(key)' is \(info.dtype.rawValue) \(info.shape); expected \(dtype.rawValue) \(shape) for \(scheme.rawValue)")
            }
            return info
        }
        // Read straight into `buffer` (the model's arena for the tensors that stay fp32: a
        // temporary copy of the word table would add its size to the serving process's peak memory).
        func floats(_ name: String, _ shape: [Int], into buffer: UnsafeMutableBufferPointer<Float>) throws {
            _ = try info(name, .f32, shape)
            try file.floats(int8FileName(name), into: buffer)
            guard buffer.allSatisfy({ $0.isFinite }) else {
                throw ModelError(file: path, "tensor '\(int8FileName(name))' holds a non-finite value")
            }
        }
        func floats(_ name: String, _ shape: [Int]) throws -> [Float] {
            var values = [Float](repeating: 0, count: shape.reduce(1, *))
            try values.withUnsafeMutableBufferPointer { try floats(name, shape, into: $0) }
            return values
        }
        func int8s(_ name: String, _ shape: [Int]) throws -> [Int8] {
            _ = try info(name, .i8, shape)
            let bytes = try file.rawBytes(int8FileName(name))
            return bytes.map { Int8(bitPattern: $0) }
        }
        // q, k and v are fused into one (3C, C) layer, as the fp32 model runs them.
        func linear(_ names: [String], outputs: Int, inputs: Int) throws -> Int8Linear {
            var weight: [Int8] = [], scales: [Float] = [], bias: [Float] = []
            for name in names {
                weight += try int8s(name + ".weight", [outputs, inputs])
                scales += try floats(name + ".weight_scale", [outputs])
                bias += try floats(name + ".bias", [outputs])
            }
            guard scales.allSatisfy({ $0 > 0 }) else {
                throw ModelError(file: path, "a weight scale of '\(int8FileName(names[0]))' is not positive")
            }
            return Int8Linear(weight: weight, scales: scales, bias: bias, outputs: outputs * names.count, inputs: inputs)
        }

        let (c, f, v, k) = (config.hiddenSize, config.intermediateSize, config.vocabularySize, config.labelCount)
        var words: Int8Embeddings?
        if embeddingsFlag == "true" {
            let scales = try floats("embeddings.word_embeddings.weight_scale", [v])
            words = Int8Embeddings(table: try int8s("embeddings.word_embeddings.weight", [v, c]), scales: scales)
        }
        let layers = try (0..<config.layerCount).map { l in
            let p = "transformer.layer.\(l).", a = config.attentionWidth(l)
            return (qkv: try linear(["q_lin", "k_lin", "v_lin"].map { p + "attention." + $0 }, outputs: a, inputs: c),
                    out: try linear([p + "attention.out_lin"], outputs: c, inputs: a),
                    ffn1: try linear([p + "ffn.lin1"], outputs: f, inputs: c),
                    ffn2: try linear([p + "ffn.lin2"], outputs: c, inputs: f))
        }
        let linears = ModelWeights.Int8Layers(layers: layers,
                                              preClassifier: try linear(["pre_classifier"], outputs: c, inputs: c),
                                              classifier: try linear(["classifier"], outputs: k, inputs: c))
        return try SequenceClassifier(int8: config, headActivation: head, linears: linears, words: words) { arena, layout in
            for entry in layout.entries {
                try floats(entry.name, entry.shape, into: UnsafeMutableBufferPointer(start: arena[entry], count: entry.count))
            }
        }
    }
}

extension SequenceClassifier {
    /// Writes the model as a Hugging Face folder whose weights are stored as IEEE fp16
    /// (`QuantizationScheme.fp16`); `SequenceClassifier.load` and transformers both read it, and it
    /// is computed in fp32. A weight beyond fp16's range (65504) is an error, not an infinity.
    public func saveFP16Folder(_ directory: String, vocabularyFrom source: String) throws {
        let staging = directory + ".fp32-staging"
        try? FileManager.default.removeItem(atPath: staging)
        defer { try? FileManager.default.removeItem(atPath: staging) }
        try save(directory: staging)
        let file = try SafetensorsFile(path: (staging as NSString).appendingPathComponent("model.safetensors"))
        var tensors: [SafetensorsWriter.Tensor] = []
        for name in file.names {
            guard let info = file.info(name) else { continue }
            var values = [Float](repeating: 0, count: info.elementCount)
            try values.withUnsafeMutableBufferPointer { try file.floats(name, into: $0) }
            var bytes = [UInt8]()
            bytes.reserveCapacity(values.count * 2)
            for value in values {
                let half = Float16(value)
                guard half.isFinite || !value.isFinite else {
                    throw ModelError(file: directory, "tensor '\(name)' has value \(value), outside fp16's range")
                }
                withUnsafeBytes(of: half.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
            }
            tensors.append(.init(name: name, dtype: .f16, shape: info.shape, bytes: bytes))
        }
        var metadata = file.metadata
        metadata[QuantizationScheme.metadataKey] = QuantizationScheme.fp16.rawValue
        metadata[QuantizationScheme.checksumKey] = QuantizationChecksum.of(tensors)
        metadata.merge(VocabularyFingerprint.metadata(vocabularyIn: source)) { _, new in new }
        let config = try ModelConfig.load(directory: staging)
        try writeModelFolder(directory, vocabularyFrom: source) { partial in
            try SafetensorsWriter.write(tensors, metadata: metadata,
                                        to: (partial as NSString).appendingPathComponent("model.safetensors"))
            try config.write(directory: partial)
        }
    }
}

/// Fills `directory + ".partial"` with `body`, copies `vocab.txt` and the tokenizer files from
/// `source` (those present), then swaps the folder into place, so a failure leaves no half folder.
func writeModelFolder(_ directory: String, vocabularyFrom source: String, _ body: (String) throws -> Void) throws {
    let fm = FileManager.default
    let partial = directory + ".partial"
    try? fm.removeItem(atPath: partial)
    do {
        try fm.createDirectory(atPath: partial, withIntermediateDirectories: true)
        try body(partial)
        let vocab = (source as NSString).appendingPathComponent("vocab.txt")
        guard fm.fileExists(atPath: vocab) else { throw ModelError(file: vocab, "missing vocab.txt to copy beside the model") }
        for name in ["vocab.txt", "tokenizer_config.json", "special_tokens_map.json"] {
            let from = (source as NSString).appendingPathComponent(name)
            if fm.fileExists(atPath: from) {
                try fm.copyItem(atPath: from, toPath: (partial as NSString).appendingPathComponent(name))
            }
        }
        let old = directory + ".old"
        try? fm.removeItem(atPath: old)
        if fm.fileExists(atPath: directory) { try fm.moveItem(atPath: directory, toPath: old) }
        try fm.moveItem(atPath: partial, toPath: directory)
        try? fm.removeItem(atPath: old)
    } catch let error as ModelError {
        try? fm.removeItem(atPath: partial)
        throw error
    } catch {
        try? fm.removeItem(atPath: partial)
        throw ModelError(file: directory, "cannot write the model folder: \(error.localizedDescription)")
    }
}
