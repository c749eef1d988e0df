import XCTest
@testable import Training
import Evaluation

/// The learning-rate schedule and the classification metrics, against hand-computed values.
final class ScheduleAndMetricsTests: XCTestCase {
    func testLinearWarmupThenDecay() {
        let s = LearningRateSchedule(peak: 1, warmupSteps: 4, totalSteps: 12)
        XCTAssertEqual((0..<4).map { s.rate(at: $0) }, [0.25, 0.5, 0.75, 1])
        XCTAssertEqual(s.rate(at: 8), 0.5)
        XCTAssertEqual(s.rate(at: 12), 0)
        XCTAssertEqual(s.rate(at: 20), 0, "never negative")
        XCTAssertEqual(LearningRateSchedule.constant(5e-5).rate(at: 1_000_000), 5e-5)
    }

    func testAccuracyMacroF1AndConfusion() {
        // true:      0 0 0 1 1 2
        // predicted: 0 0 1 1 2 2
        let m = ClassificationMetrics(predictions: [0, 0, 1, 1, 2, 2], labels: [0, 0, 0, 1, 1, 2], classes: 3)
        XCTAssertEqual(m.accuracy, 4.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(m.confusion, [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
        // F1: class 0: 2*2/(2+3) = 0.8; class 1: 2*1/(2+2) = 0.5; class 2: 2*1/(2+1) = 2/3.
        XCTAssertEqual(m.macroF1, (0.8 + 0.5 + 2.0 / 3) / 3, accuracy: 1e-12)
    }

    func testAbsentClassScoresZero() {
        let m = ClassificationMetrics(predictions: [0, 0], labels: [0, 0], classes: 2)
        XCTAssertEqual(m.accuracy, 1)
        XCTAssertEqual(m.macroF1, 0.5, "class 1 never present nor predicted counts 0, as scikit-learn's zero_division=0")
    }
}
