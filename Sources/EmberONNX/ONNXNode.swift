import Ember

/// One ONNX node being run: its resolved inputs, its attributes, and checked ways to run Ember
/// primitives on them (a type-rule failure becomes ``ONNXImportError/invalidNode(node:message:)``).
struct ONNXNode {
    let proto: Onnx_NodeProto
    /// The opset of the node's domain.
    let opset: Int
    /// The node's inputs; nil for an omitted optional input (an empty name).
    let inputs: [Tensor?]

    var label: String { proto.name.isEmpty ? proto.opType : "\(proto.opType) '\(proto.name)'" }

    func fail(_ message: String) -> ONNXImportError { .invalidNode(node: label, message: message) }

    /// Input `index`, which must be present.
    func input(_ index: Int) throws -> Tensor {
        guard index < inputs.count, let tensor = inputs[index] else { throw fail("input \(index) is missing") }
        return tensor
    }

    /// Input `index`, nil when omitted.
    func optional(_ index: Int) -> Tensor? { index < inputs.count ? inputs[index] : nil }

    // MARK: Attributes

    private func attribute(_ name: String) -> Onnx_AttributeProto? { proto.attribute.first { $0.name == name } }

    func has(_ name: String) -> Bool { attribute(name) != nil }

    func int(_ name: String, _ fallback: Int? = nil) throws -> Int {
        guard let a = attribute(name) else {
            if let fallback { return fallback }
            throw fail("attribute \(name) is required")
        }
        return Int(clamping: a.i)
    }

    func ints(_ name: String) -> [Int]? {
        attribute(name).map { $0.ints.map { Int(clamping: $0) } }
    }

    func float(_ name: String, _ fallback: Double) -> Double { attribute(name).map { Double($0.f) } ?? fallback }

    func string(_ name: String, _ fallback: String) -> String {
        attribute(name).map { String(decoding: $0.s, as: UTF8.self) } ?? fallback
    }

    func tensorAttribute(_ name: String) throws -> Tensor? {
        guard let a = attribute(name), a.hasT else { return nil }
        return try ONNXTensorReader.tensor(a.t, folder: nil)
    }

    // MARK: Running primitives

    /// `primitive` on `operands`, checked.
    func run(_ primitive: Primitive, _ operands: Tensor...) throws -> Tensor { try run(primitive, operands) }

    func run(_ primitive: Primitive, _ operands: [Tensor]) throws -> Tensor {
        // A result is allocated only if its size is within bounds: a hostile pad or expand must
        // not ask for terabytes.
        if let result = primitive.resultType(operands.map { Primitive.ValueType(shape: $0.shape, dtype: $0.dtype) }) {
            try checkSize(result.shape)
        }
        do { return try primitive.apply(to: operands) } catch let error as PrimitiveApplicationError { throw fail("\(error)") }
    }

    /// Throws unless a tensor of `shape` stays within ``ONNXNode/elementLimit``.
    func checkSize(_ shape: [Int]) throws {
        guard let count = CheckedSize.product(shape), count <= ONNXNode.elementLimit else {
            throw fail("a result of shape \(shape) exceeds the limit of \(ONNXNode.elementLimit) elements")
        }
    }

    /// The most elements any value computed while running a model may have (2^28: 1 GiB of
    /// float32, beyond the intermediates of real models at inference batch sizes).
    static let elementLimit = 1 << 28

    /// `axis` normalised for `rank` (negative counts from the end); a 0-d tensor has no axis.
    func axis(_ axis: Int, rank: Int) throws -> Int {
        let normalised = axis < 0 ? axis + rank : axis
        guard normalised >= 0 && normalised < rank else { throw fail("axis \(axis) is out of range for rank \(rank)") }
        return normalised
    }

    /// The values of a small integer tensor (shapes, axes, pads), read on the host.
    func hostInts(_ tensor: Tensor, limit: Int = 4096) throws -> [Int] {
        guard !tensor.dtype.isFloatingPoint || tensor.count == 0, tensor.count <= limit else {
            throw fail("expected a small integer tensor, got \(tensor.dtype)\(tensor.shape)")
        }
        return withNoGrad { tensor.to(.int64) }.scalars(as: Int64.self).map { Int(clamping: $0) }
    }

    func hostDoubles(_ tensor: Tensor, limit: Int = 4096) throws -> [Double] {
        guard tensor.count <= limit else { throw fail("expected a small tensor, got \(tensor.shape)") }
        return withNoGrad { tensor.to(.float64) }.scalars(as: Double.self)
    }

    /// A constant tensor holding `value` in `dtype` (0-d).
    func scalar(_ value: Double, _ dtype: DType) -> Tensor { withNoGrad { Tensor(value).to(dtype) } }

    /// The slices of `x` at `positions` along `axis` (PyTorch's `index_select`), as one gather
    /// whose index is broadcast over the other dimensions. The positions must be in range.
    func take(_ x: Tensor, axis: Int, positions: [Int]) throws -> Tensor {
        var indexShape = Array(repeating: 1, count: x.rank), shape = x.shape
        indexShape[axis] = positions.count
        shape[axis] = positions.count
        let index = try run(.expand(shape), Tensor(shape: indexShape, scalars: positions.map(Int64.init)))
        return try run(.gather(dim: axis), x, index)
    }

    func reshape(_ x: Tensor, _ shape: [Int]) throws -> Tensor { x.shape == shape ? x : try run(.reshape(shape), x) }
}
