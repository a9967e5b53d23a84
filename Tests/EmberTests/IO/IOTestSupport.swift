import Foundation
import Testing
@testable import Ember

/// Fixtures written by scripts/fixtures/generate_io.py.
enum IOFixtures {
    static func url(_ name: String) -> URL {
        let base = name as NSString
        guard let url = Bundle.module.url(forResource: base.deletingPathExtension, withExtension: base.pathExtension,
                                          subdirectory: "Fixtures/io") else {
            fatalError("missing fixture \(name); run scripts/fixtures/generate_io.py")
        }
        return url
    }

    static func bytes(_ name: String) -> [UInt8] { Array(try! Data(contentsOf: url(name))) }

    /// io_expected.json: section -> name -> tensor description.
    nonisolated(unsafe) static let expected: [String: Any] = {
        let data = try! Data(contentsOf: url("io_expected.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    static func tensors(_ section: String) -> [String: (dtype: String, shape: [Int], data: [Double])] {
        let entries = expected[section] as! [String: [String: Any]]
        return entries.mapValues { entry in
            (entry["dtype"] as! String, entry["shape"] as! [Int],
             (entry["data"] as! [Any]).map { ($0 as? NSNumber)?.doubleValue ?? 0 })
        }
    }
}

/// Checks dtype, shape and exact values of a loaded tensor against its description.
func expectMatches(_ tensor: Tensor?, _ expected: (dtype: String, shape: [Int], data: [Double]), _ name: String,
                   sourceLocation: SourceLocation = #_sourceLocation) {
    guard let tensor else { Issue.record("\(name): missing", sourceLocation: sourceLocation); return }
    #expect(tensor.dtype.description == expected.dtype, "\(name): dtype", sourceLocation: sourceLocation)
    #expect(tensor.shape == expected.shape, "\(name): shape", sourceLocation: sourceLocation)
    // Foundation's JSON reader on Linux may be one double ulp off; float32 rounding absorbs it.
    let reference = tensor.dtype == .float64 ? expected.data : expected.data.map { Double(Float($0)) }
    #expect(tensor.scalars(as: Double.self) == reference, "\(name): values", sourceLocation: sourceLocation)
}

/// A fresh empty folder under the temporary directory.
func temporaryFolder() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("ember-io-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// One tensor of each dtype, with values every dtype holds exactly.
func sampleTensors() -> StateDict {
    var state = StateDict()
    for dtype in DType.allCases {
        let values: [Double] = dtype == .bool ? [1, 0, 1, 1, 0, 0] : [0, 1, 2, 3, 100, 7]
        state["t_\(dtype)"] = Tensor(shape: [2, 3], scalars: values).to(dtype)
    }
    state["scalar"] = Tensor(2.5 as Double)
    state["empty"] = Tensor.zeros([0, 4])
    state["transposed"] = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6] as [Float]).transposed(0, 1)
    return state
}

func expectSameTensors(_ actual: StateDict, _ expected: StateDict, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(Set(actual.keys) == Set(expected.keys), sourceLocation: sourceLocation)
    for (name, tensor) in expected {
        guard let loaded = actual[name] else { continue }
        #expect(loaded.dtype == tensor.dtype, "\(name)", sourceLocation: sourceLocation)
        #expect(loaded.shape == tensor.shape, "\(name)", sourceLocation: sourceLocation)
        #expect(loaded.scalars(as: Double.self) == tensor.scalars(as: Double.self), "\(name)", sourceLocation: sourceLocation)
    }
}

/// Runs `body` and checks it throws a SerializationError (never crashes, never succeeds).
func expectSerializationError(_ context: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("\(context): expected a SerializationError, but it succeeded", sourceLocation: sourceLocation)
    } catch is SerializationError {
    } catch {
        Issue.record("\(context): expected a SerializationError, got \(error)", sourceLocation: sourceLocation)
    }
}
