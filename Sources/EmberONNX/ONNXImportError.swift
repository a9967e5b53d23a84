/// Why reading or running an ONNX model failed. ONNX files are untrusted input: every problem
/// with one, however malformed, is one of these, never a crash.
///
///     do { let model = try ONNXModel(contentsOf: url) }
///     catch let error as ONNXImportError { print(error) }
public enum ONNXImportError: Error, CustomStringConvertible, Equatable {
    /// The bytes are not a valid ONNX model (bad protobuf, inconsistent tensors, missing values).
    case malformed(String)
    /// Operators with no Ember implementation, each as "Name (opset N)", all of them at once.
    case unsupportedOperators([String])
    /// An external-data file that is missing, too short, or outside the model's folder.
    case externalData(String)
    /// An input missing from a call, or of the wrong dtype or rank.
    case invalidInput(String)
    /// A node's operands do not fit its operator (shapes, dtypes, attribute values).
    case invalidNode(node: String, message: String)

    public var description: String {
        switch self {
        case .malformed(let message): return "ONNX: malformed model: \(message)"
        case .unsupportedOperators(let names): return "ONNX: unsupported operators: \(names.joined(separator: ", "))"
        case .externalData(let message): return "ONNX: external data: \(message)"
        case .invalidInput(let message): return "ONNX: \(message)"
        case .invalidNode(let node, let message): return "ONNX: node \(node): \(message)"
        }
    }
}
