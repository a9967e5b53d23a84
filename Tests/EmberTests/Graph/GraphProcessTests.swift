import Foundation
import Testing
@testable import Ember

/// A compiled model saved here runs in another process, `ember run`, which has none of its
/// source: the deployment path the saved graph exists for.
@Suite("compile: saved graphs in a fresh process")
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
}
