import Foundation
import Testing
@testable import Ember

/// Stops training after a given number of batches (in the current run).
final class StopAfter: TrainingCallback {
    let batches: Int
    let control: TrainingControl
    var seen = 0
    init(_ batches: Int, _ control: TrainingControl) { (self.batches, self.control) = (batches, control) }
    func batchEnded(_ progress: BatchProgress) {
        seen += 1
        if seen == batches { control.requestStop() }
    }
}

@Suite(.serialized) struct TrainingTests {
    /// A small MLP trainer on (part of) the digits; the same seed gives the same run.
    func makeTrainer(samples: Int? = nil, dropout: Bool = false, control: TrainingControl = TrainingControl(),
                     callbacks: [any TrainingCallback] = []) throws -> Trainer<LabeledDataset, LabeledDataset> {
        manualSeed(0)
        let digits = try Datasets.digits()
        let parts = randomSplit(digits, lengths: [0.8, 0.2], generator: RandomGenerator(seed: 0))
        var trainIndices = parts[0].indices
        if let samples { trainIndices = Array(trainIndices.prefix(samples)) }
        let train = digits.selecting(trainIndices), test = digits.selecting(parts[1].indices)
        let model = Sequential {
            Flatten()
            Linear(64, 64)
            ReLU()
            if dropout { Dropout(p: 0.2) }
            Linear(64, 10)
        }
        return Trainer(model: model, optimizer: Adam(model.parameters(), lr: 1e-2),
                       trainLoader: DataLoader(train, batchSize: 32, shuffle: true, generator: RandomGenerator(seed: 1)),
                       validationLoader: DataLoader(test, batchSize: 256), classes: digits.classes,
                       callbacks: callbacks, control: control)
    }

    @Test func twoEpochsOnDigitsReachNinetyPercent() throws {
        let trainer = try makeTrainer()
        #expect(try trainer.fit(epochs: 2) == .completed)
        #expect(trainer.history.count == 2)
        let accuracy = try #require(trainer.history.last?.validationAccuracy)
        #expect(accuracy >= 0.90, "validation accuracy \(accuracy)")
        #expect(trainer.history[1].trainLoss < trainer.history[0].trainLoss)
    }

    /// Runs in a process of its own: model initialisation and dropout draw from the process-wide
    /// default generator (as in PyTorch), which tests running in parallel would also draw from.
    @Test func resumeEqualsUninterrupted() async {
        await #expect(processExitsWith: .success) {
            try TrainingTests().checkResumeEqualsUninterrupted()
        }
    }

    func checkResumeEqualsUninterrupted() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-resume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let straight = try makeTrainer(samples: 320, dropout: true)
        try straight.fit(epochs: 2)
        let expected = straight.model.stateDict()

        // 1 epoch, save, resume 1 epoch in a fresh trainer.
        let first = try makeTrainer(samples: 320, dropout: true)
        try first.fit(epochs: 1)
        let epochFile = directory.appendingPathComponent("epoch.safetensors")
        try first.checkpoint().save(to: epochFile)
        manualSeed(123)   // whatever happens in between is undone by the checkpoint
        let second = try makeTrainer(samples: 320, dropout: true)
        try second.restore(from: Checkpoint.load(from: epochFile))
        try second.fit(epochs: 2)

        // Interrupted mid-epoch (batch 14 of 10 per epoch = epoch 2, batch 4), then resumed.
        let control = TrainingControl()
        let interrupted = try makeTrainer(samples: 320, dropout: true, control: control, callbacks: [StopAfter(14, control)])
        let interruptedOutcome = try interrupted.fit(epochs: 2)
        precondition(interruptedOutcome == .interrupted)
        precondition(interrupted.state.epoch == 1 && interrupted.state.batch == 4)
        let batchFile = directory.appendingPathComponent("batch.safetensors")
        try interrupted.checkpoint().save(to: batchFile)
        let resumed = try makeTrainer(samples: 320, dropout: true)
        try resumed.restore(from: Checkpoint.load(from: batchFile))
        let resumedOutcome = try resumed.fit(epochs: 2)
        precondition(resumedOutcome == .completed)

        for trainer in [second, resumed] {
            let weights = trainer.model.stateDict()
            precondition(weights.keys == expected.keys)
            for (name, tensor) in expected {
                precondition(weights[name]!.scalars(as: Float.self) == tensor.scalars(as: Float.self), "\(name) differs")
            }
            precondition(trainer.history == straight.history.map { metrics in
                var copy = metrics
                let resumedMetrics = trainer.history[metrics.epoch - 1]
                copy.seconds = resumedMetrics.seconds
                copy.samplesPerSecond = resumedMetrics.samplesPerSecond
                return copy
            })
        }
    }

    @Test func metricsOutputs() throws {
        var confusion = ConfusionMatrix(classes: ["a", "b"])
        confusion.add(predictions: Tensor([0, 1, 1] as [Int64]), targets: Tensor([0, 1, 0] as [Int64]))
        #expect(confusion.counts == [[1, 1], [0, 1]])
        #expect(abs(confusion.accuracy - 2.0 / 3) < 1e-12)
        #expect(confusion.csv == "true\\predicted,a,b\na,1,1\nb,0,1\n")
        #expect(confusion.text.contains("accuracy 66.67% (3 samples)"))
        let history = [EpochMetrics(epoch: 1, trainLoss: 1, trainAccuracy: 0.5, validationLoss: 0.8, validationAccuracy: 0.6),
                       EpochMetrics(epoch: 2, trainLoss: 0.5, trainAccuracy: 0.8)]
        let csv = EpochMetrics.csv(history)
        #expect(csv.hasPrefix("epoch,train_loss,train_accuracy,validation_loss,validation_accuracy"))
        #expect(csv.split(separator: "\n").dropFirst().compactMap { EpochMetrics(csvLine: $0) } == history)
        let svg = TrainingPlot.svg(history)
        #expect(svg.hasPrefix("<svg") && svg.contains("polyline") && svg.hasSuffix("</svg>\n"))
    }

    @Test func progressReporterPlainLines() throws {
        final class Lines: @unchecked Sendable { var text = "" }
        let lines = Lines()
        let reporter = ProgressReporter(interactive: false) { lines.text += $0 }
        let trainer = try makeTrainer(samples: 320, callbacks: [reporter])
        try trainer.fit(epochs: 1)
        #expect(!lines.text.contains("\r"))
        #expect(lines.text.contains("epoch 1/1 batch 1/10"))
        #expect(lines.text.contains("epoch 1: train loss"))
        #expect(lines.text.contains("| validation loss"))
    }
}
