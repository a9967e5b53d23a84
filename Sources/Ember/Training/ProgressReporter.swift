import Foundation

/// Prints training progress: on a terminal, a progress bar redrawn in place (batches, loss,
/// accuracy, samples/s, ETA); otherwise (a log file, a pipe, CI) a plain line at every tenth
/// of an epoch. Either way, one line per finished epoch with train and validation numbers.
///
///     trainer.callbacks.append(ProgressReporter())
public final class ProgressReporter: TrainingCallback {
    /// True when stdout is a terminal (`isatty`), unless set otherwise.
    public var interactive: Bool
    private let write: (String) -> Void
    private var lastPlainStep = -1

    public init(interactive: Bool = isatty(STDOUT_FILENO) != 0, write: @escaping (String) -> Void = ProgressReporter.standardOutput) {
        self.interactive = interactive
        self.write = write
    }

    public static func standardOutput(_ text: String) {
        // Unbuffered: a bar redrawn in place must show at once. (`print` is buffered when stdout
        // is not a terminal; mix the two only through this function.)
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    public func epochStarted(epoch: Int, epochs: Int, batches: Int) { lastPlainStep = -1 }

    public func batchEnded(_ p: BatchProgress) {
        let numbers = String(format: "loss %.4f  acc %.2f%%  %.0f samples/s  ETA %@", p.loss, p.accuracy * 100, p.samplesPerSecond,
                             ProgressReporter.duration(p.eta))
        if interactive {
            let width = 24
            let filled = p.batches == 0 ? width : width * p.batch / p.batches
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            write("\r\u{1B}[2Kepoch \(p.epoch)/\(p.epochs) \(bar) \(p.batch)/\(p.batches)  \(numbers)")
        } else {
            let step = p.batches == 0 ? 10 : 10 * p.batch / p.batches
            if step > lastPlainStep && (step > 0 || p.batch == 1) && p.batch < p.batches {
                lastPlainStep = step
                write("epoch \(p.epoch)/\(p.epochs) batch \(p.batch)/\(p.batches)  \(numbers)\n")
            }
        }
    }

    public func epochEnded(_ metrics: EpochMetrics, evaluation: Evaluation?, trainer: AnyTrainer) throws {
        if interactive { write("\r\u{1B}[2K") }
        var line = String(format: "epoch %d: train loss %.4f acc %.2f%%", metrics.epoch, metrics.trainLoss, metrics.trainAccuracy * 100)
        if let loss = metrics.validationLoss, let accuracy = metrics.validationAccuracy {
            line += String(format: " | validation loss %.4f acc %.2f%%", loss, accuracy * 100)
        }
        line += String(format: " | %.1fs, %.0f samples/s\n", metrics.seconds, metrics.samplesPerSecond)
        write(line)
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
    }
}
