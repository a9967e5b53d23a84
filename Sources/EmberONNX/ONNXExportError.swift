import Ember

/// Why an ONNX export failed. Export never stops the program: every failure is one of these.
///
///     do { try exportONNX(model, example: x, to: url) }
///     catch let error as ONNXExportError { print(error) }
public enum ONNXExportError: Error, CustomStringConvertible, Equatable {
    /// The function could not be traced (it reads a tensor's value, draws random numbers, …).
    case notTraceable(String)
    /// The traced graph holds operations that have no ONNX form at this opset, listed by name
    /// once each, in the order they first appear.
    case unsupportedOperations([String], opset: Int)
    /// A tensor of this dtype cannot be written as an ONNX initializer.
    case unsupportedDType(DType)
    /// The function cannot be one graph with a symbolic dimension (its structure or a constant
    /// changes with the dynamic size in a way ONNX export cannot express).
    case dynamicSizeNotExpressible(String)
    /// An argument is out of range (the opset, the number of names, a dynamic dimension).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .notTraceable(let reason):
            return "exportONNX: the function could not be traced: \(reason)"
        case .unsupportedOperations(let names, let opset):
            return "exportONNX: no ONNX form at opset \(opset) for: \(names.joined(separator: ", "))"
        case .unsupportedDType(let dtype):
            return "exportONNX: \(dtype) tensors cannot be written to ONNX"
        case .dynamicSizeNotExpressible(let reason):
            return "exportONNX: cannot export with a dynamic dimension: \(reason)"
        case .invalidArgument(let message):
            return "exportONNX: \(message)"
        }
    }
}
