import Ember
import Foundation

// ember-bench: times Ember's workloads (median of repeated runs after warm-up) and prints a
// table, or one JSON object per line with --json for scripts/bench/compare.py.
//
//     swift run -c release ember-bench --filter matmul --threads 2
//     swift run -c release ember-bench --json > ember.jsonl

struct Options {
    var threads: Int?
    /// A platform BLAS for the matrix products (`accelerate`, `openblas` or a path).
    var blas: String?
    var filters: [String] = []
    var json = false
    var list = false
    /// Timed calls at least, and seconds of timed calls at least, per workload.
    var minimumRepeats = 5
    var minimumSeconds = 1.0
    var warmup = 2

    static let usage = """
    usage: ember-bench [--threads N] [--filter NAME[,NAME...]] [--json] [--list]
                       [--repeats N] [--min-time SECONDS] [--warmup N] [--blas LIBRARY]
      --blas     sends large matrix products to a platform BLAS: accelerate, openblas or a path
      --filter   runs workloads whose name contains one of the comma-separated strings
      --json     one JSON object per line: impl, name, group, seconds (median per op),
                 min_seconds, repeats, threads, flop, note
    """

    static func parse(_ arguments: [String]) -> Options {
        var options = Options()
        var iterator = arguments.makeIterator()
        func value(_ flag: String) -> String {
            guard let next = iterator.next() else { fail("\(flag) needs a value") }
            return next
        }
        while let argument = iterator.next() {
            switch argument {
            case "--threads": options.threads = number(value(argument), argument, as: Int.self)
            case "--filter": options.filters += value(argument).split(separator: ",").map(String.init)
            case "--json": options.json = true
            case "--blas": options.blas = value(argument)
            case "--list": options.list = true
            case "--repeats": options.minimumRepeats = number(value(argument), argument, as: Int.self)
            case "--min-time": options.minimumSeconds = number(value(argument), argument, as: Double.self)
            case "--warmup": options.warmup = number(value(argument), argument, as: Int.self)
            case "-h", "--help": emit(usage); exit(0)
            default: fail("unknown option \(argument)")
            }
        }
        return options
    }

    static func number<T: LosslessStringConvertible>(_ text: String, _ flag: String, as type: T.Type) -> T {
        guard let value = T(text) else { fail("\(flag) takes a number, not \(text)") }
        return value
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("ember-bench: \(message)\n\(usage)\n".utf8))
        exit(2)
    }
}

/// Writes a line to standard output unbuffered, so a piped run shows each result as it lands.
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// The figures for one workload; `seconds` is the median per operation.
struct Measurement {
    let workload: Workload
    let seconds: Double
    let minimumSeconds: Double
    let repeats: Int
    let threads: Int

    var json: String {
        var fields: [(String, String)] = [
            ("impl", quoted("ember")), ("name", quoted(workload.name)), ("group", quoted(workload.group)),
            ("seconds", "\(seconds)"), ("min_seconds", "\(minimumSeconds)"), ("repeats", "\(repeats)"),
            ("threads", "\(threads)"),
        ]
        fields.append(("flop", workload.flop.map { "\($0)" } ?? "null"))
        fields.append(("note", quoted(workload.note)))
        return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }

    private func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

func measure(_ workload: Workload, options: Options) -> Measurement {
    let body = workload.prepare()
    for _ in 0..<options.warmup { body() }
    let clock = ContinuousClock()
    var samples: [Double] = []
    let start = clock.now
    while samples.count < options.minimumRepeats || (clock.now - start).seconds < options.minimumSeconds {
        let elapsed = clock.measure { body() }
        samples.append(elapsed.seconds / Double(workload.operationsPerCall))
        if samples.count >= 1000 { break }
    }
    samples.sort()
    let median = samples.count % 2 == 1
        ? samples[samples.count / 2]
        : (samples[samples.count / 2 - 1] + samples[samples.count / 2]) / 2
    return Measurement(workload: workload, seconds: median, minimumSeconds: samples[0],
                       repeats: samples.count, threads: numThreads())
}

extension Duration {
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) * 1e-18
    }
}

/// "12.3 ms", "45 ns": the time in the unit that keeps three significant digits readable.
func humanTime(_ seconds: Double) -> String {
    switch seconds {
    case ..<1e-6: return String(format: "%.1f ns", seconds * 1e9)
    case ..<1e-3: return String(format: "%.2f µs", seconds * 1e6)
    case ..<1: return String(format: "%.3f ms", seconds * 1e3)
    default: return String(format: "%.3f s", seconds)
    }
}

let options = Options.parse(Array(CommandLine.arguments.dropFirst()))
if let blas = options.blas {
    do { try useBLAS(BLASLibrary(name: blas)) } catch { Options.fail("\(error)") }
}
if let threads = options.threads { setNumThreads(threads) }
let selected = Workload.all.filter { workload in
    options.filters.isEmpty || options.filters.contains { workload.name.contains($0) }
}
if options.list {
    for workload in Workload.all { emit("\(workload.name)\t\(workload.group)\t\(workload.note)") }
    exit(0)
}
if selected.isEmpty { Options.fail("no workload matches \(options.filters)") }
if !options.json {
    let gemm = activeBLAS().map { "GEMM from \($0.path)" + ($0.coreName.map { " (\($0) kernel)" } ?? "") }
        ?? "Ember's GEMM"
    emit("ember-bench: \(selected.count) workloads, \(numThreads()) threads, \(gemm), median of >= \(options.minimumRepeats) runs")
    emit("workload".padding(toLength: 18, withPad: " ", startingAt: 0) + "  median        min           GFLOP/s  runs")
}
for workload in selected {
    let result = measure(workload, options: options)
    if options.json {
        emit(result.json)
    } else {
        let gflops = workload.flop.map { String(format: "%8.1f", $0 / result.seconds / 1e9) } ?? "       -"
        emit(workload.name.padding(toLength: 18, withPad: " ", startingAt: 0)
              + "  " + humanTime(result.seconds).padding(toLength: 12, withPad: " ", startingAt: 0)
              + "  " + humanTime(result.minimumSeconds).padding(toLength: 12, withPad: " ", startingAt: 0)
              + "  " + gflops + "  \(result.repeats)")
    }
}
