// Runs ONNX's backend node tests (written by scripts/onnx/generate_node_tests.py) with
// EmberONNX and prints how many pass, with ONNX's tolerances (|ember - expected| <= atol +
// rtol |expected|, NaN where NaN is expected, same shape and dtype), and which operators fail.
//
//     swift run ember-onnx-conformance /tmp/onnx-node-tests [--verbose] [--only NAME]
//
// A conformance measurement, not a gate: it exits 0 whatever the count.
import Ember
import EmberONNX
import Foundation

struct Case: Decodable {
    let name: String, `operator`: String
    let rtol: Double, atol: Double
    let datasets: Int, tensors: Bool
    /// "node" for the node tests; "light", "pytorch-converted", … for the model tests.
    let group: String
}

let arguments = CommandLine.arguments
guard arguments.count > 1 else {
    print("usage: ember-onnx-conformance FOLDER [--verbose] [--only NAME]")
    exit(2)
}
let folder = URL(fileURLWithPath: arguments[1])
let verbose = arguments.contains("--verbose")
let only = arguments.firstIndex(of: "--only").map { arguments[$0 + 1] }
let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: folder.appendingPathComponent("cases.json")))

/// Why `item` fails, nil when it passes.
func run(_ item: Case) -> String? {
    guard item.tensors else { return "non-tensor data (sequence, optional or map)" }
    let directory = folder.appendingPathComponent(item.name)
    do {
        let model = try ONNXModel(contentsOf: directory.appendingPathComponent("model.onnx"))
        for index in 0..<item.datasets {
            let data = directory.appendingPathComponent("test_data_set_\(index)")
            var feeds: [String: Tensor] = [:]
            for (position, name) in model.inputNames.enumerated() {
                let url = data.appendingPathComponent("input_\(position).pb")
                if FileManager.default.fileExists(atPath: url.path) { feeds[name] = try readONNXTensor(from: url) }
            }
            let outputs = try withNoGrad { try model(feeds) }
            for (position, name) in model.outputNames.enumerated() {
                let url = data.appendingPathComponent("output_\(position).pb")
                guard FileManager.default.fileExists(atPath: url.path) else { continue }
                let expected = try readONNXTensor(from: url)
                guard let got = outputs[name] else { return "output \(name) missing" }
                if let mismatch = compare(got, expected, rtol: item.rtol, atol: item.atol) { return "output \(name): \(mismatch)" }
            }
        }
        return nil
    } catch {
        return "\(error)"
    }
}

func compare(_ got: Tensor, _ expected: Tensor, rtol: Double, atol: Double) -> String? {
    guard got.shape == expected.shape else { return "shape \(got.shape), expected \(expected.shape)" }
    guard got.dtype == expected.dtype else { return "dtype \(got.dtype), expected \(expected.dtype)" }
    let a = withNoGrad { got.to(.float64) }.scalars(as: Double.self), b = withNoGrad { expected.to(.float64) }.scalars(as: Double.self)
    for (x, y) in zip(a, b) {
        if x.isNaN && y.isNaN { continue }
        if x == y { continue }
        guard abs(x - y) <= atol + rtol * abs(y) else { return "\(x) where \(y) is expected" }
    }
    return nil
}

var passed: [String: Int] = [:], total: [String: Int] = [:]
var failuresByOperator: [String: Int] = [:], failedModels: [String] = []
for item in cases where only == nil || item.name == only {
    total[item.group, default: 0] += 1
    guard let failure = run(item) else {
        passed[item.group, default: 0] += 1
        continue
    }
    if verbose { print("FAIL \(item.name): \(failure)") }
    if item.group != "node" { failedModels.append("\(item.name) (\(failure.prefix(120)))") }
    // Grouped by the operators a load refused, else by the case's operator.
    let prefix = "ONNX: unsupported operators: "
    let operators = failure.hasPrefix(prefix)
        ? failure.dropFirst(prefix.count).split(separator: ",").map { $0.split(separator: " ").first.map(String.init) ?? "" }
        : [item.`operator`.isEmpty ? item.group : item.`operator`]
    for name in Set(operators) { failuresByOperator[name, default: 0] += 1 }
}
print("onnx conformance: \(passed["node", default: 0]) of \(total["node", default: 0]) ONNX node tests pass with EmberONNX")
let groups = total.keys.filter { $0 != "node" }.sorted()
if !groups.isEmpty {
    print("onnx conformance: model tests: " + groups.map { "\($0) \(passed[$0, default: 0]) of \(total[$0]!)" }.joined(separator: ", "))
}
let ranked = failuresByOperator.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
print("failing operators (\(ranked.count)): " + ranked.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
for model in failedModels { print("failing model test: \(model)") }
