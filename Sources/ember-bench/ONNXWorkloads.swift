import Ember
import EmberONNX
import Foundation

/// Imported ONNX models (EmberONNX) against onnxruntime (bench_torch.py runs the same files in
/// onnxruntime under the same names). The models are the onnx wheel's light classifiers
/// (`onnx/backend/test/data/light`, constant weights of real shapes): set EMBER_ONNX_MODELS to
/// that folder; without it these workloads are not listed.
extension Workload {
    static var onnx: [Workload] {
        guard let folder = ProcessInfo.processInfo.environment["EMBER_ONNX_MODELS"] else { return [] }
        return ["resnet50", "densenet121", "inception_v2", "squeezenet", "vgg19"].compactMap { model in
            let url = URL(fileURLWithPath: folder).appendingPathComponent("light_\(model).onnx")
            guard FileManager.default.fileExists(atPath: url.path) else { return nil }
            return Workload(name: "onnx_\(model)_light_b1", group: "onnx",
                            note: "the onnx wheel's light_\(model).onnx, batch 1, imported with EmberONNX (PyTorch column: onnxruntime)") {
                let onnx = try! ONNXModel(contentsOf: url)
                let input = onnx.inputNames[0]
                let x = Tensor.rand(onnx.inputTypes[input]!.shape.map { $0 ?? 1 })
                return { _ = try! withNoGrad { try onnx([input: x]) } }
            }
        }
    }
}
