import ArgumentParser
import Ember
import Foundation

// The `ember` command line: a thin layer over Ember's Datasets, ClassifierModels, Trainer and
// Checkpoint. Everything reusable lives in the library (Sources/Ember/Data, Sources/Ember/Training).

@main
struct EmberCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ember",
        abstract: "Train, evaluate and run image classifiers with Ember, and run saved compiled graphs.",
        subcommands: [Train.self, Eval.self, Predict.self, Run.self, Info.self],
        defaultSubcommand: Train.self)
}

/// The options that pick a dataset.
struct DataOptions: ParsableArguments {
    @Option(help: "digits (bundled), mnist, fashion-mnist or cifar10.")
    var dataset = "digits"

    @Option(help: "Directory holding the dataset's files (not needed for digits).")
    var dataDir: String?
}

/// Train and validation sets of a named dataset. Digits has no official split: a fixed 80/20
/// split (seed 0, whatever --seed is) so that `ember eval` sees the same validation samples.
func loadDatasets(_ options: DataOptions, augment: Bool) throws -> (train: LabeledDataset, validation: LabeledDataset, scale: Double) {
    func directory() throws -> URL {
        guard let path = options.dataDir else { throw ValidationError("--dataset \(options.dataset) needs --data-dir") }
        return URL(fileURLWithPath: path)
    }
    switch options.dataset {
    case "digits":
        let digits = try Datasets.digits()
        let parts = randomSplit(digits, lengths: [0.8, 0.2], generator: RandomGenerator(seed: 0))
        return (digits.selecting(parts[0].indices), digits.selecting(parts[1].indices), 16)
    case "mnist":
        return (try Datasets.mnist(directory: directory(), train: true), try Datasets.mnist(directory: directory(), train: false), 255)
    case "fashion-mnist":
        return (try Datasets.fashionMNIST(directory: directory(), train: true),
                try Datasets.fashionMNIST(directory: directory(), train: false), 255)
    case "cifar10":
        let train = try Datasets.cifar10(directory: directory(), train: true)
        let augmentation: (any Transform)? = augment ? Compose([RandomCrop(size: 32, padding: 4), RandomHorizontalFlip()]) : nil
        return (train.withTransform(augmentation), try Datasets.cifar10(directory: directory(), train: false), 255)
    default:
        throw ValidationError("unknown dataset '\(options.dataset)' (expected digits, mnist, fashion-mnist or cifar10)")
    }
}

/// The model a checkpoint was trained with, rebuilt from its metadata and loaded.
func loadModel(_ path: String) throws -> (model: any Layer, checkpoint: Checkpoint, classes: [String], inputShape: [Int]) {
    let checkpoint = try Checkpoint.load(from: URL(fileURLWithPath: path))
    let meta = checkpoint.metadata
    guard let name = meta["model"], let shapeText = meta["input_shape"], let classText = meta["classes"] else {
        throw ValidationError("\(path): not written by `ember train` (no model, input_shape or classes metadata)")
    }
    let inputShape = shapeText.split(separator: "x").compactMap { Int($0) }
    let classes = classText.split(separator: "\n").map(String.init)
    guard let model = ClassifierModels.make(name, inputShape: inputShape, classes: classes.count) else {
        throw ValidationError("\(path): unknown model '\(name)'")
    }
    _ = try model.loadStateDict(checkpoint.model)
    _ = model.eval()
    return (model, checkpoint, classes, inputShape)
}

/// Prints through the same unbuffered path as the progress reporter, so lines keep their order.
func say(_ text: String, terminator: String = "\n") {
    ProgressReporter.standardOutput(text + terminator)
}

func writeText(_ text: String, to url: URL) throws {
    try text.write(to: url, atomically: true, encoding: .utf8)
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a classifier (by default a small CNN on the bundled digits).",
        discussion: """
        Writes to the output directory: last.safetensors (the latest state, with the optimizer and \
        the position in training, for --resume), best.safetensors (best validation accuracy), \
        metrics.csv, training.svg (loss and accuracy per epoch), confusion_matrix.txt and .csv. \
        Ctrl-C finishes the current batch, saves last.safetensors and exits; --resume continues \
        exactly where it stopped.
        """)

    @OptionGroup var data: DataOptions

    @Option(help: "mlp, cnn or resnet-small.")
    var model = "cnn"

    @Option(help: "Number of epochs.")
    var epochs = 20

    @Option(help: "Samples per batch.")
    var batchSize = 32

    @Option(help: "Learning rate.")
    var lr = 3e-3

    @Option(help: "sgd (momentum 0.9), adam or adamw.")
    var optimizer = "adam"

    @Option(help: "Random seed: initial weights and data order.")
    var seed: UInt64 = 0

    @Option(help: "Threads for tensor operations (default: all cores).")
    var threads: Int?

    @Option(help: "Data-loader worker threads.")
    var workers = 0

    @Option(help: "Where to write checkpoints, metrics and plots.")
    var outputDir = "ember-run"

    @Flag(help: "Continue from <output-dir>/last.safetensors.")
    var resume = false

    func run() throws {
        if let threads { setNumThreads(threads) }
        manualSeed(seed)
        let (trainSet, validationSet, scale) = try loadDatasets(data, augment: true)
        let inputShape = trainSet.sampleShape
        guard let network = ClassifierModels.make(model, inputShape: inputShape, classes: trainSet.classes.count) else {
            throw ValidationError("unknown model '\(model)' (expected \(ClassifierModels.names.joined(separator: ", ")))")
        }
        let parameters = network.parameters()
        let optim: Optimizer
        switch optimizer {
        case "sgd": optim = SGD(parameters, lr: lr, momentum: 0.9)
        case "adam": optim = Adam(parameters, lr: lr)
        case "adamw": optim = AdamW(parameters, lr: lr)
        default: throw ValidationError("unknown optimizer '\(optimizer)' (expected sgd, adam or adamw)")
        }
        let trainLoader = DataLoader(trainSet, batchSize: batchSize, shuffle: true, numWorkers: workers,
                                     generator: RandomGenerator(seed: seed &+ 1))
        let validationLoader = DataLoader(validationSet, batchSize: 256, numWorkers: workers)
        let output = URL(fileURLWithPath: outputDir)
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let control = TrainingControl()
        let metadata = ["model": model, "dataset": data.dataset, "input_shape": inputShape.map(String.init).joined(separator: "x"),
                        "classes": trainSet.classes.joined(separator: "\n"), "input_scale": String(scale)]
        let saver = OutputWriter(directory: output, metadata: metadata)
        let trainer = Trainer(model: network, optimizer: optim, trainLoader: trainLoader, validationLoader: validationLoader,
                              classes: trainSet.classes, callbacks: [ProgressReporter(), saver], control: control)
        if resume {
            let url = output.appendingPathComponent("last.safetensors")
            let checkpoint = try Checkpoint.load(from: url)
            guard checkpoint.metadata["model"] == model, checkpoint.metadata["dataset"] == data.dataset else {
                throw ValidationError("\(url.path) was trained with --model \(checkpoint.metadata["model"] ?? "?") --dataset \(checkpoint.metadata["dataset"] ?? "?")")
            }
            try trainer.restore(from: checkpoint)
            saver.bestAccuracy = trainer.history.compactMap(\.validationAccuracy).max() ?? -1
            say("resuming from \(url.path): epoch \(trainer.state.epoch + 1), batch \(trainer.state.batch)")
        }
        say("training \(model) on \(data.dataset): \(trainSet.count) train / \(validationSet.count) validation samples, " +
              "\(network.parameters().reduce(0) { $0 + $1.count }) parameters, \(numThreads()) threads")

        // Ctrl-C: ask the trainer to stop after the current batch; a second one exits at once.
        signal(SIGINT, SIG_IGN)
        let interrupts = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        interrupts.setEventHandler {
            if control.isStopRequested { _exit(130) }
            control.requestStop()
            FileHandle.standardError.write("\ninterrupt: finishing the current batch and saving (Ctrl-C again to quit now)\n".data(using: .utf8)!)
        }
        interrupts.resume()

        let start = Date()
        let outcome = try trainer.fit(epochs: epochs)
        interrupts.cancel()
        if outcome == .interrupted {
            try trainer.checkpoint(metadata: metadata).save(to: output.appendingPathComponent("last.safetensors"))
            say("\ninterrupted at epoch \(trainer.state.epoch + 1), batch \(trainer.state.batch): saved \(outputDir)/last.safetensors; continue with --resume")
            return
        }
        let seconds = Date().timeIntervalSince(start)
        let last = trainer.history.last
        say(String(format: "done in %.1fs: validation accuracy %.2f%% (best %.2f%%); outputs in %@",
                     seconds, (last?.validationAccuracy ?? 0) * 100, saver.bestAccuracy * 100, outputDir))
    }
}

/// Writes checkpoints, metrics, the plot and the confusion matrix after every epoch, so the
/// outputs are current even if the run is interrupted later.
final class OutputWriter: TrainingCallback {
    let directory: URL
    let metadata: [String: String]
    var bestAccuracy = -1.0

    init(directory: URL, metadata: [String: String]) {
        self.directory = directory
        self.metadata = metadata
    }

    func epochEnded(_ metrics: EpochMetrics, evaluation: Evaluation?, trainer: AnyTrainer) throws {
        let checkpoint = trainer.checkpoint(metadata: metadata)
        try checkpoint.save(to: directory.appendingPathComponent("last.safetensors"))
        if let accuracy = metrics.validationAccuracy, accuracy > bestAccuracy {
            bestAccuracy = accuracy
            try checkpoint.save(to: directory.appendingPathComponent("best.safetensors"))
        }
        try writeText(EpochMetrics.csv(trainer.state.history), to: directory.appendingPathComponent("metrics.csv"))
        try writeText(TrainingPlot.svg(trainer.state.history), to: directory.appendingPathComponent("training.svg"))
        if let evaluation {
            try writeText(evaluation.confusion.text, to: directory.appendingPathComponent("confusion_matrix.txt"))
            try writeText(evaluation.confusion.csv, to: directory.appendingPathComponent("confusion_matrix.csv"))
        }
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Accuracy and confusion matrix of a checkpoint on a dataset's test split.")

    @Option(help: "A checkpoint written by `ember train`.")
    var checkpoint = "ember-run/best.safetensors"

    @OptionGroup var data: DataOptions

    @Option(help: "Also write confusion_matrix.csv here.")
    var outputDir: String?

    func run() throws {
        let (model, saved, classes, _) = try loadModel(checkpoint)
        var options = data
        if options.dataset == "digits", let trained = saved.metadata["dataset"], trained != "digits" { options.dataset = trained }
        let (_, validation, _) = try loadDatasets(options, augment: false)
        let result = try evaluate(model: model, loader: DataLoader(validation, batchSize: 256), classes: classes)
        say(String(format: "%@ on %@ (%d samples): loss %.4f, accuracy %.2f%%", checkpoint, options.dataset, validation.count,
                     result.loss, result.accuracy * 100))
        say(result.confusion.text, terminator: "")
        if let outputDir {
            try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
            try writeText(result.confusion.csv, to: URL(fileURLWithPath: outputDir).appendingPathComponent("confusion_matrix.csv"))
        }
    }
}

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Class probabilities for inputs given as CSV rows of raw pixel values.",
        discussion: """
        Each row holds one input's values in the dataset's raw scale (digits 0–16, MNIST 0–255), \
        as many as the model's input has (64 for digits); a trailing extra column (a label) is ignored.
        """)

    @Option(help: "A checkpoint written by `ember train`.")
    var checkpoint = "ember-run/best.safetensors"

    @Argument(help: "CSV file of inputs (gzipped or not).")
    var input: String

    @Option(help: "Print the top K classes of each row.")
    var top = 3

    func run() throws {
        let (model, saved, classes, inputShape) = try loadModel(checkpoint)
        let scale = Double(saved.metadata["input_scale"] ?? "1") ?? 1
        let features = inputShape.reduce(1, *)
        var rows = try Datasets.csvMatrix(URL(fileURLWithPath: input))
        if rows.shape[1] == features + 1 { rows = rows.narrow(dim: 1, start: 0, length: features) }   // drop a label column
        guard rows.shape[1] == features else {
            throw ValidationError("\(input): rows have \(rows.shape[1]) values; the model takes \(features) (plus an optional label)")
        }
        let probabilities = withNoGrad { model((rows / scale).reshaped([rows.shape[0]] + inputShape)).softmax(dim: 1) }
        for (i, row) in probabilities.split(size: 1).enumerated() {
            let values = row.scalars(as: Double.self)
            let ranked = values.indices.sorted { values[$0] > values[$1] }.prefix(top)
            say("row \(i + 1): " + ranked.map { String(format: "%@ %.4f", classes[$0], values[$0]) }.joined(separator: ", "))
        }
    }
}
