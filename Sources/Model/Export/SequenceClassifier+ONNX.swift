import Files
import Foundation
import Kernels

// Shapes: B batch, S sequence, C hidden, H a layer's heads, D head size, A = H * D, F intermediate, K labels.

extension SequenceClassifier {
    /// The classifier as an ONNX model (opset 17): inputs `input_ids` and `attention_mask` (int64,
    /// dynamic `batch` and `sequence` axes), output `logits` (float, (batch, K)), as transformers'
    /// exporters name them. fp32 linear layers become MatMul + Add; int8 ones quantize each row of
    /// their input as this model does and multiply with ONNX's standard MatMulInteger (u8 x s8 ->
    /// s32) against the int8 weights, then scale per row and per output channel.
    public func onnxModel() -> [UInt8] {
        var g = ONNXGraph()
        let (c, d, k) = (config.hiddenSize, config.headSize, config.labelCount)
        let epsilon = Float(config.layerNormEpsilon)
        g.input("input_ids", .int64, [.named("batch"), .named("sequence")])
        g.input("attention_mask", .int64, [.named("batch"), .named("sequence")])
        func floats(_ pointer: UnsafePointer<Float>, _ count: Int) -> [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

        // Embeddings: words (fp32 or int8 rows), plus positions 0..<S, then LayerNorm.
        let words: String
        switch weights.words {
        case .float(let table):
            let name = g.floats("embeddings.word_embeddings.weight", floats(table, config.vocabularySize * c), shape: [config.vocabularySize, c])
            words = g.node("Gather", [name, "input_ids"])
        case .int8(let table):
            let name = g.int8s("embeddings.word_embeddings.weight_int8", table.table, shape: [config.vocabularySize, c])
            let scales = g.floats("embeddings.word_embeddings.scale", table.scales, shape: [config.vocabularySize, 1])
            let rows = g.node("Cast", [g.node("Gather", [name, "input_ids"])], attributes: [("to", .int(1))])
            words = g.node("Mul", [rows, g.node("Gather", [scales, "input_ids"])])
        }
        let zero = g.int64s("const.zero", [0], shape: []), one = g.int64s("const.one", [1], shape: [])
        let length = g.node("Gather", [g.node("Shape", ["input_ids"]), one], attributes: [("axis", .int(0))])
        let positions = g.node("Range", [zero, length, one])
        let table = g.floats("embeddings.position_embeddings.weight", floats(weights.positions, config.maxPositions * c),
                             shape: [config.maxPositions, c])
        func layerNorm(_ x: String, _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>, _ name: String) -> String {
            g.node("LayerNormalization", [x, g.floats(name + ".weight", floats(weight, c), shape: [c]),
                                          g.floats(name + ".bias", floats(bias, c), shape: [c])],
                   attributes: [("axis", .int(-1)), ("epsilon", .float(epsilon))])
        }
        var hidden = layerNorm(g.node("Add", [words, g.node("Gather", [table, positions])]),
                               weights.normWeight, weights.normBias, "embeddings.LayerNorm")

        // The attention mask as an additive (B, 1, 1, S) term: 0 on tokens, the lowest float on padding.
        let keep = g.node("Cast", ["attention_mask"], attributes: [("to", .int(1))])
        let padding = g.node("Sub", [g.floats("const.one_f", [1], shape: []), keep])
        let additive = g.node("Mul", [padding, g.floats("const.lowest", [-Float.greatestFiniteMagnitude], shape: [])])
        let mask = g.node("Unsqueeze", [additive, g.int64s("const.axes12", [1, 2], shape: [2])])

        let scale = g.floats("const.attention_scale", [1 / Float(d).squareRoot()], shape: [])
        let firstIndex = g.int64s("const.first", [0], shape: [])
        for (l, layer) in weights.layers.enumerated() {
            let p = "transformer.layer.\(l)."
            // This layer's heads (fewer where some were pruned) and attention width A = heads * D.
            let (heads, a) = (Int64(config.heads(inLayer: l)), Int64(config.attentionWidth(l)))
            let toHeads = g.int64s(p + "const.to_heads", [0, 0, heads, Int64(d)], shape: [4])
            // The last layer only feeds the head, which reads the first token: as this model runs
            // it, keys and values for every token, everything else for the first token only.
            let last = l == weights.layers.count - 1
            let query: String, key: String, value: String, residual: String
            if last, let lastQuery = weights.lastQuery, let lastKeyValue = weights.lastKeyValue {
                residual = g.node("Gather", [hidden, firstIndex], attributes: [("axis", .int(1))])              // (B, C)
                let toOneRow = g.int64s(p + "const.to_one_row", [0, 1, heads, Int64(d)], shape: [4])
                let kvSplit = g.int64s(p + "const.kv_split", [a, a], shape: [2])
                let q = linear(&g, residual, lastQuery, p + "attention.q_lin")
                query = g.node("Transpose", [g.node("Reshape", [q, toOneRow])], attributes: [("perm", .ints([0, 2, 1, 3]))])  // (B, H, 1, D)
                let kv = g.nodes("Split", [linear(&g, hidden, lastKeyValue, p + "attention.kv"), kvSplit],
                                 outputs: [g.name("k"), g.name("v")], attributes: [("axis", .int(-1))])
                key = g.node("Transpose", [g.node("Reshape", [kv[0], toHeads])], attributes: [("perm", .ints([0, 2, 3, 1]))])
                value = g.node("Transpose", [g.node("Reshape", [kv[1], toHeads])], attributes: [("perm", .ints([0, 2, 1, 3]))])
            } else {
                residual = hidden
                let qkv = linear(&g, hidden, layer.qkv, p + "attention.qkv")
                let split = g.int64s(p + "const.qkv_split", [a, a, a], shape: [3])
                let parts = g.nodes("Split", [qkv, split], outputs: [g.name("q"), g.name("k"), g.name("v")], attributes: [("axis", .int(-1))])
                // (B, S, C) -> (B, H, S, D) for queries and values, (B, H, D, S) for keys.
                query = g.node("Transpose", [g.node("Reshape", [parts[0], toHeads])], attributes: [("perm", .ints([0, 2, 1, 3]))])
                key = g.node("Transpose", [g.node("Reshape", [parts[1], toHeads])], attributes: [("perm", .ints([0, 2, 3, 1]))])
                value = g.node("Transpose", [g.node("Reshape", [parts[2], toHeads])], attributes: [("perm", .ints([0, 2, 1, 3]))])
            }
            let scores = g.node("Add", [g.node("Mul", [g.node("MatMul", [query, key]), scale]), mask])
            let probabilities = g.node("Softmax", [scores], attributes: [("axis", .int(-1))])
            let context = g.node("Reshape", [g.node("Transpose", [g.node("MatMul", [probabilities, value])],
                                                    attributes: [("perm", .ints([0, 2, 1, 3]))]),
                                          g.int64s(p + "const.to_context", last ? [0, a] : [0, 0, a], shape: [last ? 2 : 3])])
            let attended = g.node("Add", [linear(&g, context, layer.out, p + "attention.out_lin"), residual])
            let normed = layerNorm(attended, layer.norm1Weight, layer.norm1Bias, p + "sa_layer_norm")
            let inner = gelu(&g, linear(&g, normed, layer.ffn1, p + "ffn.lin1"))
            hidden = layerNorm(g.node("Add", [linear(&g, inner, layer.ffn2, p + "ffn.lin2"), normed]),
                               layer.norm2Weight, layer.norm2Bias, p + "output_layer_norm")
        }

        // The head reads the first token (the last layer computed only it): pre_classifier, ReLU
        // (tanh for BERT's pooler), classifier.
        let first = weights.layers.isEmpty ? g.node("Gather", [hidden, firstIndex], attributes: [("axis", .int(1))]) : hidden
        let pooled = linear(&g, first, weights.preClassifier, "pre_classifier")
        let activated = g.node(headActivation == .relu ? "Relu" : "Tanh", [pooled])
        _ = linear(&g, activated, weights.classifier, "classifier", output: "logits")
        g.output("logits", .float, [.named("batch"), .fixed(k)])
        return g.model(name: "edgedistill-\(config.modelType.rawValue)", opset: 17, producer: "edgedistill", version: "1")
    }

    /// `x W^T + b` for one linear layer in the form it has here.
    private func linear(_ g: inout ONNXGraph, _ x: String, _ layer: LinearLayer, _ name: String, output: String? = nil) -> String {
        let (o, i) = (layer.outputs, layer.inputs)
        switch layer.weights {
        case .float(let weight, let bias), .frozen(_, let weight, let bias):
            var transposed = [Float](repeating: 0, count: o * i)   // (I, O)
            for r in 0..<o { for col in 0..<i { transposed[col * o + r] = weight[r * i + col] } }
            let w = g.floats(name + ".weight_t", transposed, shape: [i, o])
            let b = g.floats(name + ".bias", Array(UnsafeBufferPointer(start: bias, count: o)), shape: [o])
            return g.node("Add", [g.node("MatMul", [x, w]), b], output: output)
        case .int8(let q):
            var transposed = [Int8](repeating: 0, count: o * i)    // (I, O)
            for r in 0..<o { for col in 0..<i { transposed[col * o + r] = q.weight[r * i + col] } }
            let w = g.int8s(name + ".weight_int8_t", transposed, shape: [i, o])
            let scales = g.floats(name + ".weight_scale", Array(UnsafeBufferPointer(start: q.scales, count: o)), shape: [o])
            let b = g.floats(name + ".bias", Array(UnsafeBufferPointer(start: q.bias, count: o)), shape: [o])
            // As this model runs it here: each row of x quantized to [0, L] (127, or 255 on AVX-512 VNNI) with its own scale and zero
            // point (`quantizeRowsAsymmetric`), times W (per output channel, s8) summed exactly in
            // int32 (MatMulInteger), less zero * the column sums of W, then scaled.
            var sums = [Float](repeating: 0, count: o)
            for r in 0..<o { sums[r] = Float(q.sums[r]) }
            let columnSums = g.floats(name + ".weight_column_sums", sums, shape: [o])
            let levels = g.floats(g.name("const.levels"), [activationLevels], shape: [])
            let zeroF = g.floats(g.name("const.zero_f"), [0], shape: [])
            let oneF = g.floats(g.name("const.one_f"), [1], shape: [])
            let rows = g.node("Reshape", [x, g.int64s(g.name("const.rows"), [-1, Int64(i)], shape: [2])])      // (M, I)
            let low = g.node("Min", [g.node("ReduceMin", [rows], attributes: [("axes", .ints([1])), ("keepdims", .int(1))]), zeroF])
            let high = g.node("Max", [g.node("ReduceMax", [rows], attributes: [("axes", .ints([1])), ("keepdims", .int(1))]), zeroF])
            let spread = g.node("Sub", [high, low])
            let scale = g.node("Where", [g.node("Greater", [spread, zeroF]), g.node("Div", [spread, levels]), oneF])  // (M, 1)
            let inverse = g.node("Reciprocal", [scale])
            let zero = g.node("Clip", [g.node("Round", [g.node("Div", [g.node("Neg", [low]), scale])]), zeroF, levels])
            let shifted = g.node("Add", [g.node("Round", [g.node("Mul", [rows, inverse])]), zero])
            let quantized = g.node("Cast", [g.node("Clip", [shifted, zeroF, levels])], attributes: [("to", .int(2))])  // u8
            let products = g.node("Cast", [g.node("MatMulInteger", [quantized, w])], attributes: [("to", .int(1))])
            let centred = g.node("Sub", [products, g.node("Mul", [zero, columnSums])])
            let flat = g.node("Add", [g.node("Mul", [centred, g.node("Mul", [scale, scales])]), b])               // (M, O)
            let leading = g.node("Slice", [g.node("Shape", [x]), g.int64s(g.name("const.start"), [0], shape: [1]),
                                           g.int64s(g.name("const.end"), [-1], shape: [1])])
            let shape = g.node("Concat", [leading, g.int64s(g.name("const.outputs"), [Int64(o)], shape: [1])],
                               attributes: [("axis", .int(0))])
            return g.node("Reshape", [flat, shape], output: output)
        }
    }

    /// The exact GELU, x * (1 + erf(x / sqrt 2)) / 2.
    private func gelu(_ g: inout ONNXGraph, _ x: String) -> String {
        let erf = g.node("Erf", [g.node("Mul", [x, g.floats(g.name("const.inv_sqrt2"), [Float(1 / 2.0.squareRoot())], shape: [])])])
        let onePlus = g.node("Add", [erf, g.floats(g.name("const.one"), [1], shape: [])])
        return g.node("Mul", [g.node("Mul", [x, onePlus]), g.floats(g.name("const.half"), [0.5], shape: [])])
    }

    /// Writes `onnxModel()` to `path` (atomically) and the model folder's tokenizer and config
    /// files beside it, so the file is served with the vocabulary it was trained on.
    public func exportONNX(to path: String, tokenizerFrom source: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.isEmpty ? "." : folder, isDirectory: &isFolder), isFolder.boolValue else {
            throw ModelError(file: path, "the folder \(folder) does not exist: create it first")
        }
        do {
            try AtomicFile.write(onnxModel(), to: path)
            for name in ["vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json", "config.json"] {
                let from = (source as NSString).appendingPathComponent(name)
                guard let bytes = FileManager.default.contents(atPath: from) else { continue }
                try AtomicFile.write(Array(bytes), to: (folder.isEmpty ? "." : folder) + "/" + name)
            }
        } catch let failure as AtomicFile.Failure {
            throw ModelError(file: path, "cannot write: \(failure.reason)")
        }
    }
}
