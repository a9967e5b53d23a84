import Foundation

/// The numbers of one finished epoch.
public struct EpochMetrics: Sendable, Equatable {
    /// 1-based epoch number.
    public var epoch: Int
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    /// Wall-clock seconds of the epoch (training and validation).
    public var seconds: Double
    /// Training samples per second.
    public var samplesPerSecond: Double

    public init(epoch: Int, trainLoss: Double, trainAccuracy: Double, validationLoss: Double? = nil,
                validationAccuracy: Double? = nil, seconds: Double = 0, samplesPerSecond: Double = 0) {
        self.epoch = epoch
        self.trainLoss = trainLoss
        self.trainAccuracy = trainAccuracy
        self.validationLoss = validationLoss
        self.validationAccuracy = validationAccuracy
        self.seconds = seconds
        self.samplesPerSecond = samplesPerSecond
    }

    static let csvHeader = "epoch,train_loss,train_accuracy,validation_loss,validation_accuracy,seconds,samples_per_second"

    var csvLine: String {
        [String(epoch), String(trainLoss), String(trainAccuracy), validationLoss.map { String($0) } ?? "",
         validationAccuracy.map { String($0) } ?? "", String(seconds), String(samplesPerSecond)].joined(separator: ",")
    }

    init?(csvLine: Substring) {
        let fields = csvLine.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 7, let epoch = Int(fields[0]), let loss = Double(fields[1]), let accuracy = Double(fields[2]),
              let seconds = Double(fields[5]), let rate = Double(fields[6]) else { return nil }
        self.init(epoch: epoch, trainLoss: loss, trainAccuracy: accuracy, validationLoss: Double(fields[3]),
                  validationAccuracy: Double(fields[4]), seconds: seconds, samplesPerSecond: rate)
    }

    /// `metrics.csv`: a header and one line per epoch.
    ///
    ///     try EpochMetrics.csv(trainer.history).write(to: url, atomically: true, encoding: .utf8)
    public static func csv(_ history: [EpochMetrics]) -> String {
        ([csvHeader] + history.map(\.csvLine)).joined(separator: "\n") + "\n"
    }
}

/// Counts of (true class, predicted class) pairs.
///
///     var matrix = ConfusionMatrix(classes: ["0", "1"])
///     matrix.add(predictions: logits.argmax(dim: 1), targets: labels)
///     print(matrix.text)
public struct ConfusionMatrix: Sendable, Equatable {
    public let classes: [String]
    /// `counts[truth][prediction]`.
    public private(set) var counts: [[Int]]

    public init(classes: [String]) {
        self.classes = classes
        counts = Array(repeating: Array(repeating: 0, count: classes.count), count: classes.count)
    }

    /// Adds a batch of predicted and true class indices (int tensors of the same length).
    public mutating func add(predictions: Tensor, targets: Tensor) {
        for (prediction, truth) in zip(predictions.scalars(as: Int.self), targets.scalars(as: Int.self)) {
            emberPrecondition(prediction >= 0 && prediction < classes.count && truth >= 0 && truth < classes.count,
                              "ConfusionMatrix: class index out of range 0..<\(classes.count)")
            counts[truth][prediction] += 1
        }
    }

    public var total: Int { counts.joined().reduce(0, +) }
    /// The fraction of samples on the diagonal.
    public var accuracy: Double {
        total == 0 ? 0 : Double(classes.indices.map { counts[$0][$0] }.reduce(0, +)) / Double(total)
    }

    /// Rows are true classes, columns predictions, aligned for a terminal.
    public var text: String {
        let names = classes.map { String($0.prefix(10)) }
        let width = max(names.map(\.count).max() ?? 1, String(counts.joined().max() ?? 0).count, 4)
        func cell(_ s: String) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
        var lines = ["true \\ predicted"]
        lines.append(cell("") + " " + names.map(cell).joined(separator: " "))
        for (i, row) in counts.enumerated() { lines.append(cell(names[i]) + " " + row.map { cell(String($0)) }.joined(separator: " ")) }
        lines.append(String(format: "accuracy %.2f%% (%d samples)", accuracy * 100, total))
        return lines.joined(separator: "\n") + "\n"
    }

    /// `true\predicted,<class>,…` then one row per true class.
    public var csv: String {
        func quoted(_ s: String) -> String { s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s }
        var lines = [(["true\\predicted"] + classes).map(quoted).joined(separator: ",")]
        for (i, row) in counts.enumerated() { lines.append(([quoted(classes[i])] + row.map(String.init)).joined(separator: ",")) }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// An SVG chart of loss and accuracy per epoch (train and validation), drawn by Ember itself.
public enum TrainingPlot {
    /// Two panels side by side: loss (left), accuracy (right).
    ///
    ///     try TrainingPlot.svg(trainer.history).write(to: url, atomically: true, encoding: .utf8)
    public static func svg(_ history: [EpochMetrics]) -> String {
        let panelWidth = 420.0, height = 300.0, margin = 50.0
        var body = ""
        func panel(x0: Double, title: String, train: [Double], validation: [Double?], fixedRange: ClosedRange<Double>?) {
            let values = train + validation.compactMap { $0 }
            var low = fixedRange?.lowerBound ?? (values.min() ?? 0), high = fixedRange?.upperBound ?? (values.max() ?? 1)
            if fixedRange == nil { low = min(low, 0) }
            if high - low < 1e-12 { high = low + 1 }
            let count = max(history.count, 2)
            func px(_ i: Int) -> Double { x0 + margin + Double(i) / Double(count - 1) * (panelWidth - 1.5 * margin) }
            func py(_ v: Double) -> Double { height - margin - (v - low) / (high - low) * (height - 2 * margin) }
            body += "<text x=\"\(x0 + panelWidth / 2)\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">\(title)</text>\n"
            body += "<line x1=\"\(x0 + margin)\" y1=\"\(height - margin)\" x2=\"\(x0 + panelWidth - margin / 2)\" y2=\"\(height - margin)\" stroke=\"#333\"/>\n"
            body += "<line x1=\"\(x0 + margin)\" y1=\"\(margin)\" x2=\"\(x0 + margin)\" y2=\"\(height - margin)\" stroke=\"#333\"/>\n"
            for k in 0...4 {
                let v = low + (high - low) * Double(k) / 4
                body += "<text x=\"\(x0 + margin - 6)\" y=\"\(py(v) + 4)\" text-anchor=\"end\" font-size=\"11\">\(String(format: "%.3g", v))</text>\n"
                body += "<line x1=\"\(x0 + margin)\" y1=\"\(py(v))\" x2=\"\(x0 + panelWidth - margin / 2)\" y2=\"\(py(v))\" stroke=\"#ddd\"/>\n"
            }
            for (i, metrics) in history.enumerated() {
                body += "<text x=\"\(px(i))\" y=\"\(height - margin + 16)\" text-anchor=\"middle\" font-size=\"11\">\(metrics.epoch)</text>\n"
            }
            body += "<text x=\"\(x0 + panelWidth / 2)\" y=\"\(height - 10)\" text-anchor=\"middle\" font-size=\"12\">epoch</text>\n"
            func line(_ points: [(Int, Double)], color: String, label: String, row: Int) {
                guard !points.isEmpty else { return }
                let path = points.map { "\(px($0.0)),\(py($0.1))" }.joined(separator: " ")
                body += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(path)\"/>\n"
                for (i, v) in points { body += "<circle cx=\"\(px(i))\" cy=\"\(py(v))\" r=\"3\" fill=\"\(color)\"/>\n" }
                let ly = margin + 4 + Double(row) * 16
                body += "<line x1=\"\(x0 + panelWidth - 130)\" y1=\"\(ly)\" x2=\"\(x0 + panelWidth - 110)\" y2=\"\(ly)\" stroke=\"\(color)\" stroke-width=\"2\"/>"
                body += "<text x=\"\(x0 + panelWidth - 105)\" y=\"\(ly + 4)\" font-size=\"12\">\(label)</text>\n"
            }
            line(train.enumerated().map { ($0.offset, $0.element) }, color: "#1f77b4", label: "train", row: 0)
            line(validation.enumerated().compactMap { i, v in v.map { (i, $0) } }, color: "#ff7f0e", label: "validation", row: 1)
        }
        panel(x0: 0, title: "Loss", train: history.map(\.trainLoss), validation: history.map(\.validationLoss), fixedRange: nil)
        panel(x0: panelWidth, title: "Accuracy", train: history.map(\.trainAccuracy), validation: history.map(\.validationAccuracy),
              fixedRange: nil)
        return """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(2 * panelWidth))" height="\(Int(height))" font-family="sans-serif">
        <rect width="100%" height="100%" fill="white"/>
        \(body)</svg>

        """
    }
}
