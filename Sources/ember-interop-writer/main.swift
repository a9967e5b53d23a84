// Writes .npy, .npz (stored and deflated) and .safetensors files with Ember, plus
// expected.json, into the folder given as the argument, for
// scripts/interop/check_numpy_reads_ember.py to read back with numpy.
//
//     swift run ember-interop-writer /tmp/ember-interop
import Ember
import Foundation

let folder = URL(fileURLWithPath: CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "ember-interop")
try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)

var arrays = StateDict()
let values: [Double] = [0, 1, 2, 3, 100, 7]
for dtype in DType.allCases where dtype != .bfloat16 {
    arrays["\(dtype)"] = Tensor(shape: [2, 3], scalars: dtype == .bool ? [1, 0, 1, 1, 0, 0] : values).to(dtype)
}
arrays["transposed"] = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6] as [Float]).transposed(0, 1)
arrays["scalar"] = Tensor(2.5 as Double)
arrays["empty"] = Tensor.zeros([0, 4])
arrays["long_run"] = Tensor.arange(0, 5000, dtype: .int64).remainder(Tensor(7 as Int64))

var expected: [String: Any] = [:]
for (name, tensor) in arrays {
    try NumPy.save(tensor, to: folder.appendingPathComponent("\(name).npy"))
    expected[name] = ["dtype": "\(tensor.dtype)", "shape": tensor.shape, "data": tensor.scalars(as: Double.self)]
}
try NumPy.saveArchive(arrays, to: folder.appendingPathComponent("stored.npz"))
try NumPy.saveArchive(arrays, to: folder.appendingPathComponent("deflated.npz"), compressed: true)
var withBFloat = arrays
withBFloat["bfloat16"] = Tensor(shape: [3], scalars: [1.5, -2, 0.25] as [Float]).to(.bfloat16)
expected["bfloat16"] = ["dtype": "bfloat16", "shape": [3], "data": [1.5, -2, 0.25]]
try SafeTensors.save(withBFloat, to: folder.appendingPathComponent("all.safetensors"), metadata: ["writer": "ember"])
let json = try JSONSerialization.data(withJSONObject: expected, options: [.sortedKeys])
try json.write(to: folder.appendingPathComponent("expected.json"))
print("wrote \(arrays.count) arrays to \(folder.path)")
