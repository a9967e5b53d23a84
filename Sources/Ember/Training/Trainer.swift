import Foundation

/// Where a training run stands: everything besides the model and optimizer that a checkpoint
/// needs so that a resumed run continues exactly as an uninterrupted one would.
public struct TrainingState: Sendable, Equatable {
    /// The current epoch, 0-based (the number of finished epochs).
    public var epoch = 0
    /// The next batch to run in the current epoch.
    public var batch = 0
    /// The data loader's generator at the start of the current epoch: with `batch`, it fixes
    /// which samples are still to come.
    public var loaderRandomState: [UInt64] = []
    /// Running sums of the current epoch (loss × samples, correct predictions, samples).
    public var lossSum = 0.0
    public var correct = 0
    public var seen = 0
    /// Seconds spent in the current epoch before an interruption.
    public var secondsSoFar = 0.0
    /// Finished epochs.
    public var history: [EpochMetrics] = []

    public init() {}
}

/// Progress within an epoch, handed to callbacks after each batch.
public struct BatchProgress: Sendable {
    public var epoch: Int          // 1-based
    public var epochs: Int
    public var batch: Int          // 1-based, batches done in this epoch
    public var batches: Int
    public var loss: Double        // running mean over the epoch
    public var accuracy: Double    // running accuracy over the epoch
    public var samplesPerSecond: Double
    public var elapsed: Double
    /// Seconds left in this epoch at the current rate.
    public var eta: Double
}

/// Hooks into `Trainer.fit`. Every method has an empty default.
public protocol TrainingCallback: AnyObject {
    func epochStarted(epoch: Int, epochs: Int, batches: Int)
    func batchEnded(_ progress: BatchProgress)
    /// Called after validation; `evaluation` is nil when there is no validation set.
    func epochEnded(_ metrics: EpochMetrics, evaluation: Evaluation?, trainer: AnyTrainer) throws
}

extension TrainingCallback {
    public func epochStarted(epoch: Int, epochs: Int, batches: Int) {}
    public func batchEnded(_ progress: BatchProgress) {}
    public func epochEnded(_ metrics: EpochMetrics, evaluation: Evaluation?, trainer: AnyTrainer) throws {}
}

/// A request to stop training after the current batch, safe to set from any thread (a signal
/// handler's dispatch source, a UI).
public final class TrainingControl: @unchecked Sendable {
    // Invariant for @unchecked Sendable: `stopRequested` is only touched under `lock`.
    private let lock = NSLock()
    private var stopRequested = false
    public init() {}
    public func requestStop() { lock.lock(); stopRequested = true; lock.unlock() }
    public var isStopRequested: Bool { lock.lock(); defer { lock.unlock() }; return stopRequested }
}

/// How `fit` ended.
public enum TrainingOutcome: Sendable, Equatable {
    case completed
    /// Stopped by `TrainingControl`; the trainer's state points at the next batch to run.
    case interrupted
}

/// Loss, accuracy and confusion matrix of a model on a dataset.
public struct Evaluation: Sendable {
    public var loss: Double
    public var accuracy: Double
    public var confusion: ConfusionMatrix
}

/// What callbacks see of a trainer, whatever its dataset types.
public protocol AnyTrainer: AnyObject {
    var model: any Layer { get }
    var optimizer: Optimizer { get }
    var state: TrainingState { get }
    /// The model, optimizer, position and random state as a checkpoint.
    func checkpoint(metadata: [String: String]) -> Checkpoint
}

/// The training loop for classifiers: batches from a `DataLoader`, forward, cross-entropy,
/// backward, optimizer step; running loss and accuracy; validation after each epoch;
/// callbacks for progress and checkpoints; stop and resume at any batch.
///
///     let trainer = Trainer(model: model, optimizer: Adam(model.parameters(), lr: 1e-3),
///                           trainLoader: train, validationLoader: test, classes: digits.classes)
///     try trainer.fit(epochs: 10)
///     print(trainer.history.last!.validationAccuracy!)
public final class Trainer<TrainSource: Dataset, ValidationSource: Dataset>: AnyTrainer {
    public let model: any Layer
    public let optimizer: Optimizer
    public let trainLoader: DataLoader<TrainSource, (Tensor, Tensor)>
    public let validationLoader: DataLoader<ValidationSource, (Tensor, Tensor)>?
    public let classes: [String]
    /// `(logits, targets) -> loss`; cross-entropy by default.
    public var lossFunction: (Tensor, Tensor) -> Tensor = { crossEntropy($0, $1) }
    public var callbacks: [any TrainingCallback] = []
    public let control: TrainingControl
    public private(set) var state = TrainingState()
    private var restoredLoaderState = false

    public init(model: any Layer, optimizer: Optimizer, trainLoader: DataLoader<TrainSource, (Tensor, Tensor)>,
                validationLoader: DataLoader<ValidationSource, (Tensor, Tensor)>?, classes: [String],
                callbacks: [any TrainingCallback] = [], control: TrainingControl = TrainingControl()) {
        self.model = model
        self.optimizer = optimizer
        self.trainLoader = trainLoader
        self.validationLoader = validationLoader
        self.classes = classes
        self.callbacks = callbacks
        self.control = control
    }

    /// The finished epochs' metrics.
    public var history: [EpochMetrics] { state.history }

    /// Trains until `epochs` epochs are done (counting those of a restored state) or a stop is requested.
    @discardableResult
    public func fit(epochs: Int) throws -> TrainingOutcome {
        while state.epoch < epochs {
            if restoredLoaderState {
                trainLoader.generator.stateWords = state.loaderRandomState
                restoredLoaderState = false
            } else if state.batch == 0 {
                state.loaderRandomState = trainLoader.generator.stateWords
            }
            let batches = trainLoader.count
            for callback in callbacks { callback.epochStarted(epoch: state.epoch + 1, epochs: epochs, batches: batches) }
            _ = model.train()
            let start = Date()
            let secondsBefore = state.secondsSoFar
            let seenBefore = state.seen
            var iterator = trainLoader.epoch(skipping: state.batch)
            while let (inputs, targets) = try iterator.next() {
                optimizer.zeroGrad()
                let logits = model(inputs)
                let loss = lossFunction(logits, targets)
                loss.backward()
                optimizer.step()
                let count = targets.shape[0]
                state.lossSum += loss.item() * Double(count)
                state.correct += withNoGrad { Int((logits.argmax(dim: 1) .== targets).sum().item()) }
                state.seen += count
                state.batch += 1
                let elapsed = Date().timeIntervalSince(start)
                state.secondsSoFar = secondsBefore + elapsed
                let rate = Double(state.seen - seenBefore) / max(elapsed, 1e-9)
                let progress = BatchProgress(epoch: state.epoch + 1, epochs: epochs, batch: state.batch, batches: batches,
                                             loss: state.lossSum / Double(state.seen), accuracy: Double(state.correct) / Double(state.seen),
                                             samplesPerSecond: rate, elapsed: state.secondsSoFar,
                                             eta: elapsed / Double(max(state.batch, 1)) * Double(batches - state.batch))
                for callback in callbacks { callback.batchEnded(progress) }
                if control.isStopRequested && state.batch < batches { return .interrupted }
            }
            let evaluation = try validationLoader.map { try evaluate(model: model, loader: $0, classes: classes, lossFunction: lossFunction) }
            let seconds = secondsBefore + Date().timeIntervalSince(start)
            let metrics = EpochMetrics(epoch: state.epoch + 1, trainLoss: state.lossSum / Double(max(state.seen, 1)),
                                       trainAccuracy: Double(state.correct) / Double(max(state.seen, 1)),
                                       validationLoss: evaluation?.loss, validationAccuracy: evaluation?.accuracy,
                                       seconds: seconds, samplesPerSecond: Double(state.seen) / max(seconds, 1e-9))
            state.history.append(metrics)
            state.epoch += 1
            state.batch = 0
            state.lossSum = 0; state.correct = 0; state.seen = 0; state.secondsSoFar = 0
            state.loaderRandomState = trainLoader.generator.stateWords
            for callback in callbacks { try callback.epochEnded(metrics, evaluation: evaluation, trainer: self) }
            if control.isStopRequested { return state.epoch < epochs ? .interrupted : .completed }
        }
        return .completed
    }

    // MARK: Checkpoints

    /// A checkpoint holding the model, the optimizer state, the position in training (epoch,
    /// batch, the loader's generator, running sums, history) and the default generator's state.
    public func checkpoint(metadata: [String: String] = [:]) -> Checkpoint {
        let (tensors, values) = OptimizerStateCoding.flatten(optimizer.stateDict())
        var strings = metadata
        strings["trainer.batch"] = String(state.batch)
        strings["trainer.loader_rng"] = state.loaderRandomState.map { String($0, radix: 16) }.joined(separator: ",")
        strings["trainer.loss_sum"] = String(state.lossSum)
        strings["trainer.correct"] = String(state.correct)
        strings["trainer.seen"] = String(state.seen)
        strings["trainer.seconds"] = String(state.secondsSoFar)
        strings["trainer.history"] = EpochMetrics.csv(state.history)
        return Checkpoint(model: model.stateDict(), optimizer: tensors, optimizerValues: values, epoch: state.epoch,
                          randomState: RandomGenerator.default.stateWords, metadata: strings)
    }

    /// Loads a checkpoint written by `checkpoint()`: model, optimizer, position and random state.
    /// The next `fit` continues at the saved batch with the same data order.
    public func restore(from checkpoint: Checkpoint) throws {
        _ = try model.loadStateDict(checkpoint.model)
        optimizer.loadStateDict(try OptimizerStateCoding.unflatten(checkpoint.optimizer, checkpoint.optimizerValues))
        checkpoint.restoreRandomState()
        func fail(_ key: String) -> SerializationError { .malformed(format: "checkpoint", message: "missing or invalid \(key)") }
        let m = checkpoint.metadata
        var restored = TrainingState()
        restored.epoch = checkpoint.epoch
        guard let batch = m["trainer.batch"].flatMap({ Int($0) }) else { throw fail("trainer.batch") }
        restored.batch = batch
        let words = (m["trainer.loader_rng"] ?? "").split(separator: ",").compactMap { UInt64($0, radix: 16) }
        guard words.count == 4 else { throw fail("trainer.loader_rng") }
        restored.loaderRandomState = words
        restored.lossSum = Double(m["trainer.loss_sum"] ?? "") ?? 0
        restored.correct = Int(m["trainer.correct"] ?? "") ?? 0
        restored.seen = Int(m["trainer.seen"] ?? "") ?? 0
        restored.secondsSoFar = Double(m["trainer.seconds"] ?? "") ?? 0
        restored.history = (m["trainer.history"] ?? "").split(separator: "\n").dropFirst().compactMap { EpochMetrics(csvLine: $0) }
        state = restored
        restoredLoaderState = true
    }
}

/// Loss, accuracy and confusion matrix of `model` over `loader` (evaluation mode, no graph).
public func evaluate<Source: Dataset>(model: any Layer, loader: DataLoader<Source, (Tensor, Tensor)>, classes: [String],
                                      lossFunction: (Tensor, Tensor) -> Tensor = { crossEntropy($0, $1) }) throws -> Evaluation {
    let wasTraining = model.isTraining
    _ = model.eval()
    defer { _ = model.train(wasTraining) }
    var confusion = ConfusionMatrix(classes: classes)
    var lossSum = 0.0, seen = 0
    try withNoGrad {
        var iterator = loader.epoch()
        while let (inputs, targets) = try iterator.next() {
            let logits = model(inputs)
            lossSum += lossFunction(logits, targets).item() * Double(targets.shape[0])
            seen += targets.shape[0]
            confusion.add(predictions: logits.argmax(dim: 1), targets: targets)
        }
    }
    return Evaluation(loss: lossSum / Double(max(seen, 1)), accuracy: confusion.accuracy, confusion: confusion)
}

/// `OptimizerState` as a checkpoint's flat maps: tensors `state.<position>.<name>`, numbers
/// `param_groups.<group>.<option>` and `param_groups.<group>.params`.
public enum OptimizerStateCoding {
    public static func flatten(_ state: OptimizerState) -> (StateDict, [String: [Double]]) {
        var tensors = StateDict()
        for position in state.state.keys.sorted() {
            for (name, tensor) in state.state[position]!.sorted(by: { $0.key < $1.key }) { tensors["state.\(position).\(name)"] = tensor }
        }
        var values: [String: [Double]] = [:]
        for (index, group) in state.paramGroups.enumerated() {
            for (name, value) in group.options { values["param_groups.\(index).\(name)"] = [value] }
            values["param_groups.\(index).params"] = group.params.map(Double.init)
        }
        return (tensors, values)
    }

    public static func unflatten(_ tensors: StateDict, _ values: [String: [Double]]) throws -> OptimizerState {
        var buffers: [Int: [String: Tensor]] = [:]
        for (key, tensor) in tensors {
            let parts = key.split(separator: ".", maxSplits: 2)
            guard parts.count == 3, parts[0] == "state", let position = Int(parts[1]) else {
                throw SerializationError.malformed(format: "checkpoint", message: "unexpected optimizer tensor '\(key)'")
            }
            buffers[position, default: [:]][String(parts[2])] = tensor
        }
        var groups: [Int: OptimizerState.Group] = [:]
        for (key, numbers) in values {
            let parts = key.split(separator: ".", maxSplits: 2)
            guard parts.count == 3, parts[0] == "param_groups", let index = Int(parts[1]) else { continue }
            var group = groups[index] ?? OptimizerState.Group(options: [:], params: [])
            if parts[2] == "params" { group.params = numbers.map { Int($0) } } else { group.options[String(parts[2])] = numbers.first ?? 0 }
            groups[index] = group
        }
        return OptimizerState(state: buffers, paramGroups: groups.keys.sorted().map { groups[$0]! })
    }
}
