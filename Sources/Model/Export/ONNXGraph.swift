// An ONNX model under construction: initializers, nodes, and typed inputs and outputs, encoded
// with the field numbers of onnx.proto (ModelProto, GraphProto, NodeProto, TensorProto, ...).

/// One ONNX graph and the model that holds it.
struct ONNXGraph {
    /// ONNX tensor element types (TensorProto.DataType).
    enum ElementType: Int64 {
        case float = 1, uint8 = 2, int8 = 3, int32 = 6, int64 = 7
    }

    /// An attribute of a node.
    enum Attribute {
        case int(Int64)
        case float(Float)
        case ints([Int64])
    }

    /// A dimension of an input or output: fixed, or named (dynamic).
    enum Dimension {
        case fixed(Int)
        case named(String)
    }

    private var graphNodes: [ProtobufMessage] = []
    private var initializers: [ProtobufMessage] = []
    private var inputs: [ProtobufMessage] = []
    private var outputs: [ProtobufMessage] = []
    private var counter = 0

    /// A fresh value name with `prefix`.
    mutating func name(_ prefix: String) -> String {
        counter += 1
        return "\(prefix)_\(counter)"
    }

    /// Adds a constant tensor named `name` with `shape` and the raw little-endian `bytes`.
    mutating func initializer(_ name: String, _ type: ElementType, shape: [Int], bytes: [UInt8]) {
        var tensor = ProtobufMessage()
        for d in shape { tensor.int(1, Int64(d)) }
        tensor.int(2, type.rawValue)
        tensor.string(8, name)
        tensor.data(9, bytes)
        initializers.append(tensor)
    }

    /// An fp32 constant; returns its name.
    @discardableResult
    mutating func floats(_ name: String, _ values: [Float], shape: [Int]) -> String {
        initializer(name, .float, shape: shape, bytes: values.withUnsafeBytes { Array($0) })
        return name
    }

    /// An int64 constant; returns its name.
    @discardableResult
    mutating func int64s(_ name: String, _ values: [Int64], shape: [Int]) -> String {
        initializer(name, .int64, shape: shape, bytes: values.withUnsafeBytes { Array($0) })
        return name
    }

    /// An int8 constant; returns its name.
    @discardableResult
    mutating func int8s(_ name: String, _ values: [Int8], shape: [Int]) -> String {
        initializer(name, .int8, shape: shape, bytes: values.withUnsafeBytes { Array($0) })
        return name
    }

    /// Adds a node with one output; returns its name (`output`, or one made from `op`).
    @discardableResult
    mutating func node(_ op: String, _ inputs: [String], output: String? = nil,
                       attributes: [(String, Attribute)] = []) -> String {
        nodes(op, inputs, outputs: [output ?? name(op.lowercased())], attributes: attributes)[0]
    }

    /// Adds a node with these outputs; returns them.
    @discardableResult
    mutating func nodes(_ op: String, _ inputs: [String], outputs: [String],
                        attributes: [(String, Attribute)] = []) -> [String] {
        var node = ProtobufMessage()
        for input in inputs { node.string(1, input) }
        for output in outputs { node.string(2, output) }
        node.string(3, name("node_" + op))
        node.string(4, op)
        for (attributeName, value) in attributes {
            var attribute = ProtobufMessage()
            attribute.string(1, attributeName)
            switch value {
            case .int(let i): attribute.int(3, i); attribute.int(20, 2)
            case .float(let f): attribute.float(2, f); attribute.int(20, 1)
            case .ints(let list): for i in list { attribute.int(8, i) }; attribute.int(20, 7)
            }
            node.message(5, attribute)
        }
        graphNodes.append(node)
        return outputs
    }

    private func valueInfo(_ name: String, _ type: ElementType, _ shape: [Dimension]) -> ProtobufMessage {
        var dims = ProtobufMessage()
        for d in shape {
            var dim = ProtobufMessage()
            switch d {
            case .fixed(let value): dim.int(1, Int64(value))
            case .named(let param): dim.string(2, param)
            }
            dims.message(1, dim)
        }
        var tensorType = ProtobufMessage()
        tensorType.int(1, type.rawValue)
        tensorType.message(2, dims)
        var typeProto = ProtobufMessage()
        typeProto.message(1, tensorType)
        var info = ProtobufMessage()
        info.string(1, name)
        info.message(2, typeProto)
        return info
    }

    mutating func input(_ name: String, _ type: ElementType, _ shape: [Dimension]) {
        inputs.append(valueInfo(name, type, shape))
    }

    mutating func output(_ name: String, _ type: ElementType, _ shape: [Dimension]) {
        outputs.append(valueInfo(name, type, shape))
    }

    /// The serialized ModelProto (IR version 8, the default opset `opset`).
    func model(name: String, opset: Int64, producer: String, version: String) -> [UInt8] {
        var graph = ProtobufMessage()
        for node in graphNodes { graph.message(1, node) }
        graph.string(2, name)
        for tensor in initializers { graph.message(5, tensor) }
        for info in inputs { graph.message(11, info) }
        for info in outputs { graph.message(12, info) }
        var opsetID = ProtobufMessage()
        opsetID.string(1, "")
        opsetID.int(2, opset)
        var model = ProtobufMessage()
        model.int(1, 8)
        model.string(2, producer)
        model.string(3, version)
        model.message(7, graph)
        model.message(8, opsetID)
        return model.bytes
    }
}
