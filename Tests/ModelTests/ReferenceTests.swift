import XCTest
import Kernels
@testable import Model
@testable import Training

/// Compares forward, losses, every gradient and AdamW steps with PyTorch + transformers on the
/// tiny random checkpoints written by scripts/make_model_fixtures.py.
final class ReferenceTests: XCTestCase {
    struct Reference {
        let batch: TokenBatch
        let labels: [Int32]
        let file: SafetensorsFile
    }

    func loadReference(_ folder: String) throws -> Reference {
        let file = try SafetensorsFile(path: try Fixtures.path("models/\(folder)/reference.safetensors"))
        let ids = try Fixtures.tensor(file, "input_ids").map { Int32($0) }
        let lengths = try Fixtures.tensor(file, "lengths").map { Int($0) }
        let t = ids.count / lengths.count
        let sequences = lengths.enumerated().map { b, n in Array(ids[(b * t)..<(b * t + n)]) }
        return Reference(batch: TokenBatch(sequences: sequences),
                         labels: try Fixtures.tensor(file, "labels").map { Int32($0) }, file: file)
    }

    /// The distillation loss of the fixtures, with its gradient w.r.t. the student's logits.
    func distillationLoss(_ student: [Float], _ teacher: [Float], _ labels: [Int32], classes: Int)
        -> (total: Float, ce: Float, kl: Float, gradient: [Float]) {
        let b = labels.count
        var gradient = [Float](repeating: 0, count: student.count)
        let (ce, kl) = gradient.withUnsafeMutableBufferPointer { g in
            (crossEntropy(logits: student, labels: labels, batch: b, classes: classes,
                          gradient: g.baseAddress, weight: 0.5),
             distillationKL(student: student, teacher: teacher, batch: b, classes: classes,
                            temperature: 2, gradient: g.baseAddress, weight: 0.5))
        }
        return (0.5 * ce + 0.5 * kl, ce, kl, gradient)
    }

    /// `folder` (default: the family's own) holds the checkpoint and its reference.safetensors.
    func checkFamily(_ family: String, folder: String? = nil) throws {
        let reference = try loadReference(folder ?? family)
        let loaded = try SequenceClassifier.load(directory: try Fixtures.path("models/\(folder ?? family)"))
        let teacher = try SequenceClassifier.load(directory: try Fixtures.path("models/teacher")).model
        let model = loaded.model
        XCTAssertFalse(loaded.initializedHead)
        XCTAssertEqual(loaded.unusedKeys, [])
        XCTAssertEqual(model.headActivation, family == "bert" ? .tanh : .relu)

        let teacherLogits = teacher.forward(reference.batch)
        let expectedTeacher = try Fixtures.tensor(reference.file, "teacher_logits")
        XCTAssertLessThan(relativeError(teacherLogits, expectedTeacher), Tolerance.output, "teacher logits")

        let logits = model.forward(reference.batch)
        let e = relativeError(logits, try Fixtures.tensor(reference.file, "logits"))
        XCTAssertLessThan(e, Tolerance.output, "\(family) logits: relative error \(e)")

        let loss = distillationLoss(logits, expectedTeacher, reference.labels, classes: model.config.labelCount)
        for (name, value) in [("loss_ce", loss.ce), ("loss_kl", loss.kl), ("loss_distill", loss.total)] {
            let expected = try Fixtures.tensor(reference.file, name)[0]
            XCTAssertLessThan(abs(value - expected) / abs(expected), Tolerance.output, "\(family) \(name): \(value) vs \(expected)")
        }

        model.zeroGradients()
        model.backward(loss.gradient)
        var checked = 0, worst: (String, Float) = ("", 0)
        for name in reference.file.names where name.hasPrefix("grad.") {
            let key = String(name.dropFirst("grad.".count))
            let expected = try Fixtures.tensor(reference.file, name)
            let stripped = CheckpointKeys.stripPrefix(key)
            if key.hasSuffix("token_type_embeddings.weight") {
                // Folded into the position table: d(type 0) = sum over positions of d(position).
                let c = model.config.hiddenSize
                let dpos = model.gradients.values(model.layout.entry("embeddings.position_embeddings.weight"))
                var sum = [Float](repeating: 0, count: c)
                for p in 0..<model.config.maxPositions { for i in 0..<c { sum[i] += dpos[p * c + i] } }
                let err = relativeError(sum, Array(expected[0..<c]))
                XCTAssertLessThan(err, Tolerance.gradient, "\(family) \(key)[0]")
                checked += 1
                continue
            }
            let internalName = family == "bert" ? CheckpointKeys.internalName(ofBERT: stripped) : stripped
            guard let internalName, let entry = model.layout[internalName] else {
                XCTFail("\(family): gradient \(key) has no parameter"); continue
            }
            let err = relativeError(model.gradients.values(entry), expected)
            if err > worst.1 { worst = (key, err) }
            XCTAssertLessThan(err, Tolerance.gradient, "\(family) gradient of \(key): relative error \(err)")
            checked += 1
        }
        XCTAssertEqual(checked, reference.file.names.filter { $0.hasPrefix("grad.") }.count)
        XCTAssertGreaterThan(checked, 30)
        print("\(family): \(checked) gradients checked, worst \(worst.0) at \(worst.1)")
    }

    func testDistilBERTMatchesTransformers() throws { try checkFamily("distilbert") }
    func testBERTMatchesTransformers() throws { try checkFamily("bert") }
    // Checkpoints whose heads transformers 4.x pruned (scripts/make_head_pruning_fixtures.py):
    // config.json's pruned_heads and narrower q/k/v/out_lin, read as transformers reads them.
    /// Attention transfer (`AttentionTransfer`) against transformers' attention probabilities
    /// (scripts/make_attention_fixtures.py): the term's value and every gradient of the whole loss.
    func testAttentionTransferMatchesTransformers() throws {
        let reference = try loadReference("distilbert")
        let expected = try SafetensorsFile(path: try Fixtures.path("models/distilbert/attention_reference.safetensors",
                                                                    rebuild: "python3 scripts/make_attention_fixtures.py"))
        let student = try SequenceClassifier.load(directory: try Fixtures.path("models/distilbert")).model
        let teacher = try SequenceClassifier.load(directory: try Fixtures.path("models/teacher")).model
        let logits = student.forward(reference.batch, allHiddenStates: true)
        let teacherLogits = teacher.forward(reference.batch, allHiddenStates: true)
        XCTAssertEqual(AttentionTransfer.teacherLayers([0, 1], teacherLayerCount: 3), [0, 2])
        let weight = try Fixtures.tensor(expected, "weight")[0]
        let attention = AttentionTransfer.loss(student: student, teacher: teacher, layers: [0, 1],
                                               lengths: reference.batch.layout.lengths.map(Int.init), weight: weight)
        let expectedAttention = try Fixtures.tensor(expected, "attention_loss")[0]
        XCTAssertLessThan(abs(attention.value - expectedAttention) / expectedAttention, Tolerance.output,
                          "attention term \(attention.value) vs \(expectedAttention)")
        let loss = distillationLoss(logits, teacherLogits, reference.labels, classes: student.config.labelCount)
        XCTAssertLessThan(abs(loss.total + attention.value - (try Fixtures.tensor(expected, "total_loss")[0])), 1e-4)
        student.zeroGradients()
        student.backward(loss.gradient, attentionGradients: attention.gradients)
        var checked = 0
        for name in expected.names where name.hasPrefix("grad.") {
            let key = String(name.dropFirst("grad.".count))
            guard let entry = student.layout[CheckpointKeys.stripPrefix(key)] else { XCTFail("gradient \(key) has no parameter"); continue }
            let err = relativeError(student.gradients.values(entry), try Fixtures.tensor(expected, name))
            XCTAssertLessThan(err, Tolerance.gradient, "gradient of \(key) with attention transfer: relative error \(err)")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 30)
        // The term moves the attention weights: without it, the q/k gradients differ.
        let without = try SequenceClassifier.load(directory: try Fixtures.path("models/distilbert")).model
        let again = without.forward(reference.batch, allHiddenStates: true)
        without.zeroGradients()
        without.backward(distillationLoss(again, teacherLogits, reference.labels, classes: 3).gradient)
        let name = "transformer.layer.0.attention.q_lin.weight"
        XCTAssertGreaterThan(relativeError(student.gradients.values(student.layout[name]!), without.gradients.values(without.layout[name]!)), 1e-3)
    }

    func testHeadPrunedDistilBERTMatchesTransformers() throws { try checkFamily("distilbert", folder: "distilbert-pruned-heads") }
    func testHeadPrunedBERTMatchesTransformers() throws { try checkFamily("bert", folder: "bert-pruned-heads") }

    /// Three AdamW steps on the fixture batch reproduce PyTorch's losses.
    func testAdamWStepsMatchPyTorch() throws {
        for family in ["distilbert", "bert"] {
            let reference = try loadReference(family)
            let model = try SequenceClassifier.load(directory: try Fixtures.path("models/\(family)")).model
            let teacherLogits = try Fixtures.tensor(reference.file, "teacher_logits")
            let expected = try Fixtures.tensor(reference.file, "adamw_losses")
            let optimizer = AdamW(model: model, learningRate: 1e-3, weightDecay: 0.01)
            for step in 0..<4 {
                let loss = distillationLoss(model.forward(reference.batch), teacherLogits, reference.labels,
                                            classes: model.config.labelCount)
                XCTAssertLessThan(abs(loss.total - expected[step]) / expected[step], 1e-4,
                                  "\(family) loss before step \(step): \(loss.total) vs \(expected[step])")
                if step == 3 { break }
                model.zeroGradients()
                model.backward(loss.gradient)
                optimizer.update(model)
            }
        }
    }
}
