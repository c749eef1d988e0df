import Collective
import Foundation
import Model
import Training

/// Packing a training phase into sections of a `setup` message, and unpacking it on a worker.
///
/// The worker needs no shared file system: the model folder's files travel as bytes and are
/// written to a private temporary folder, the training set travels tokenized (the coordinator
/// tokenized it), and the coordinator's state overwrites whatever the folder held.
enum JobPackage {
    /// The model-folder files a worker needs (the tokenizer's vocabulary among them).
    static let folderFiles = ["config.json", "model.safetensors", "vocab.txt"]

    static func folderSections(_ folder: String) throws -> [(name: String, bytes: [UInt8])] {
        try folderFiles.map { name in
            let path = (folder as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ClusterError("cannot read \(path) to send it to the workers")
            }
            return ("file:" + name, Array(data))
        }
    }

    /// A tokenized set as sections `PREFIX.lengths`, `PREFIX.ids` and `PREFIX.labels`.
    static func dataSections(_ data: EncodedDataset, prefix: String = "train") -> [(name: String, bytes: [UInt8])] {
        [(prefix + ".lengths", SectionCoding.bytes(of: data.sequences.map { Int32($0.count) })),
         (prefix + ".ids", SectionCoding.bytes(of: data.sequences.flatMap { $0 })),
         (prefix + ".labels", SectionCoding.bytes(of: data.labels))]
    }

    static func stateSections(_ state: TrainerState) -> [(name: String, bytes: [UInt8])] {
        var sections = [(name: "state.parameters", bytes: SectionCoding.bytes(of: state.parameters))]
        if let m = state.adamM, let v = state.adamV {
            sections.append(("state.m", SectionCoding.bytes(of: m)))
            sections.append(("state.v", SectionCoding.bytes(of: v)))
        }
        if let touched = state.touchedAt { sections.append(("state.touched_at", SectionCoding.bytes(of: touched))) }
        if let shards = state.optimizerShards {
            sections.append(("state.shards", SectionCoding.bytes(of: shards.flatMap { [Int64($0.lowerBound), Int64($0.upperBound)] })))
        }
        return sections
    }

    static func state<H>(from envelope: Envelope<H>, step: Int, optimizerStep: Int) throws -> TrainerState {
        let parameters = try SectionCoding.floats(try envelope.section("state.parameters"), name: "state.parameters")
        var state = TrainerState(step: step, optimizerStep: optimizerStep, parameters: parameters)
        if envelope.hasSection("state.m") {
            state.adamM = try SectionCoding.floats(try envelope.section("state.m"), name: "state.m")
            state.adamV = try SectionCoding.floats(try envelope.section("state.v"), name: "state.v")
        }
        if envelope.hasSection("state.touched_at") {
            let touched = try SectionCoding.int32s(try envelope.section("state.touched_at"), name: "state.touched_at")
            guard touched.allSatisfy({ $0 >= 0 && Int($0) <= optimizerStep }) else {
                throw WireError.malformedPayload("state.touched_at holds steps outside 0...\(optimizerStep)")
            }
            state.touchedAt = touched
        }
        if envelope.hasSection("state.shards") {
            let bounds = try SectionCoding.int64s(try envelope.section("state.shards"), name: "state.shards")
            guard bounds.count % 2 == 0, stride(from: 0, to: bounds.count, by: 2).allSatisfy({
                bounds[$0] >= 0 && bounds[$0] <= bounds[$0 + 1] && Int(bounds[$0 + 1]) <= parameters.count }) else {
                throw WireError.malformedPayload("state.shards holds ranges outside the \(parameters.count) parameters")
            }
            state.optimizerShards = stride(from: 0, to: bounds.count, by: 2).map { Int(bounds[$0])..<Int(bounds[$0 + 1]) }
        }
        return state
    }

    static func dataset<H>(from envelope: Envelope<H>, vocabularySize: Int, prefix: String = "train") throws -> EncodedDataset {
        let lengths = try SectionCoding.int32s(try envelope.section(prefix + ".lengths"), name: prefix + ".lengths")
        let ids = try SectionCoding.int32s(try envelope.section(prefix + ".ids"), name: prefix + ".ids")
        let labels = try SectionCoding.int32s(try envelope.section(prefix + ".labels"), name: prefix + ".labels")
        guard lengths.count == labels.count, lengths.allSatisfy({ $0 > 0 }),
              lengths.reduce(0, { $0 + Int($1) }) == ids.count else {
            throw WireError.malformedPayload("\(prefix) set: \(lengths.count) lengths, \(labels.count) labels and \(ids.count) ids do not fit together")
        }
        guard ids.allSatisfy({ $0 >= 0 && Int($0) < vocabularySize }) else {
            throw WireError.malformedPayload("\(prefix) set has token ids outside the vocabulary of \(vocabularySize)")
        }
        var sequences: [[Int32]] = []
        sequences.reserveCapacity(lengths.count)
        var offset = 0
        for length in lengths {
            sequences.append(Array(ids[offset..<(offset + Int(length))]))
            offset += Int(length)
        }
        return EncodedDataset(sequences: sequences, labels: labels)
    }

    /// Writes the folder sections into a new temporary folder and returns its path.
    static func writeFolder<H>(from envelope: Envelope<H>) throws -> String {
        let folder = (NSTemporaryDirectory() as NSString).appendingPathComponent("edgedistill-worker-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for name in folderFiles {
            let bytes = try envelope.section("file:" + name)
            let path = (folder as NSString).appendingPathComponent(name)
            guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
                throw ClusterError("cannot write \(path) (is the temporary folder full?)")
            }
        }
        return folder
    }
}
