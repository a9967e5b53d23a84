import EmberONNX
import Foundation
import Testing
@testable import Ember

/// A compiled model saved here runs in another process, `ember run`, which has none of its
/// source: the deployment path the saved graph exists for.
@Suite("saved graphs and ONNX models in a fresh process")
struct GraphProcessTests {
    /// The `ember` executable that `swift test` built next to the test bundle.
    static var emberExecutable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("ember")
    }

    /// Runs `ember` with `arguments`; its exit status and what it printed.
    static func ember(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = emberExecutable
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func aSavedModelRunsInEmberRun() throws {
        let executable = Self.emberExecutable
        try #require(FileManager.default.isExecutableFile(atPath: executable.path), "no ember executable at \(executable.path)")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-graph-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let model = Sequential { Linear(8, 32); GELU(); LayerNorm(normalizedShape: [32]); Linear(32, 3) }.eval()
        let compiled = model.compiled()
        let x = Tensor.randn([4, 8], generator: RandomGenerator(seed: 11))
        let expected = withNoGrad { compiled(x) }
        let graphURL = directory.appendingPathComponent("model.graph.safetensors")
        try compiled.save(to: graphURL)
        try x.save(to: directory.appendingPathComponent("x.npy"))

        let outputURL = directory.appendingPathComponent("y.safetensors")
        let run = try Self.ember(["run", graphURL.path, "--input", directory.appendingPathComponent("x.npy").path,
                                  "--output", outputURL.path])
        #expect(run.status == 0, "\(run.output)")
        let outputs = try load(from: outputURL)
        let y = try #require(outputs["output0"])
        // The same file and plan as a GraphFunction here, so the same bits; the compiled call
        // differs by rounding only (saving folds the weights' transposes, so the products
        // read another layout).
        let local = try GraphFunction(contentsOf: graphURL)([x])[0]
        #expect(y.scalars(as: Float.self) == local.scalars(as: Float.self))
        expectClose(y, expected, relative: 1e-6, absolute: 1e-6)
        expectClose(y, withNoGrad { model(x) }, relative: 1e-5, absolute: 1e-6)

        let info = try Self.ember(["info", graphURL.path])
        #expect(info.status == 0 && info.output.contains("inputs: float32[4, 8]") && info.output.contains("outputs: float32[4, 3]"), "\(info.output)")

        // A wrong input is a clear error, not a crash.
        try Tensor.zeros([2, 8]).save(to: directory.appendingPathComponent("wrong.npy"))
        let wrong = try Self.ember(["run", graphURL.path, "--input", directory.appendingPathComponent("wrong.npy").path])
        #expect(wrong.status != 0 && wrong.output.contains("must be float32[4, 8]"), "\(wrong.output)")
        let missing = try Self.ember(["run", directory.appendingPathComponent("absent.safetensors").path])
        #expect(missing.status != 0 && !missing.output.isEmpty, "\(missing.output)")
    }

    /// `ember run` and `ember info` on an ONNX file exported here.
    @Test func emberRunsAndDescribesONNXModels() throws {
        try #require(FileManager.default.isExecutableFile(atPath: GraphProcessTests.emberExecutable.path), "no ember at \(GraphProcessTests.emberExecutable.path)")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ember-onnx-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = Sequential { Conv2d(1, 2, kernelSize: 3); ReLU(); Flatten(); Linear(2 * 4 * 4, 3) }.eval()
        let file = directory.appendingPathComponent("model.onnx")
        try exportONNX(model, example: Tensor.randn([1, 1, 6, 6]), to: file, inputName: "image", outputName: "logits",
                       dynamicAxes: [0: "batch"])
        let x = Tensor.randn([3, 1, 6, 6])
        try x.save(to: directory.appendingPathComponent("x.npy"))

        let output = directory.appendingPathComponent("out.npz")
        let run = try GraphProcessTests.ember(["run", file.path, "--input", "image=" + directory.appendingPathComponent("x.npy").path, "--output", output.path])
        #expect(run.status == 0, "\(run.output)")
        let logits = try #require(try load(from: output)["logits"])
        let expected = withNoGrad { model(x) }
        #expect(logits.shape == [3, 3])
        #expect(zip(logits.scalars(as: Float.self), expected.scalars(as: Float.self)).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })

        let info = try GraphProcessTests.ember(["info", file.path])
        #expect(info.status == 0, "\(info.output)")
        #expect(info.output.contains("inputs: image: float32[?, 1, 6, 6]") && info.output.contains("outputs: logits: float32[?, 3]")
                && info.output.contains("opset: 18") && info.output.contains("Conv 1") && info.output.contains("parameters: 119 in 4 tensors"),
                "\(info.output)")

        let bad = try GraphProcessTests.ember(["run", file.path, "--input", "nope=" + directory.appendingPathComponent("x.npy").path])
        #expect(bad.status != 0 && bad.output.contains("inputs are image"), "\(bad.output)")
        try Data([1, 2, 3]).write(to: directory.appendingPathComponent("junk.onnx"))
        let junk = try GraphProcessTests.ember(["info", directory.appendingPathComponent("junk.onnx").path])
        #expect(junk.status != 0 && junk.output.contains("ONNX"), "\(junk.output)")
    }
}
