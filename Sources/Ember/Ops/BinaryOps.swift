import CEmberKernels

/// The definition of one elementwise binary operation: kernel, dtype rule and backward rule.
/// `BinaryOperation.all` is the list the tests iterate.
///
/// A final class rather than a struct: ops pass it on every call, and a single reference is
/// cheaper to pass around than a struct holding a string and a closure.
public final class BinaryOperation: Sendable, CustomStringConvertible {
    public let name: String
    let kernel: ember_binary_op
    /// True division and friends turn integer operands into the default float type.
    let promotesIntegersToFloat: Bool
    let allowsBool: Bool
    /// (a, b, y, gradOutput, needs) -> (grad a, grad b), both in the output's shape; the
    /// caller sums broadcast dimensions away. nil: not differentiable.
    let derivative: (@Sendable (_ a: Tensor, _ b: Tensor, _ y: Tensor, _ gradient: Tensor, _ needs: (Bool, Bool)) -> (Tensor?, Tensor?))?

    public var description: String { name }

    /// Whether the op has a derivative (floorDivide has none).
    ///
    ///     BinaryOperation.all.filter(\.isDifferentiable).count   // 9
    public var isDifferentiable: Bool { derivative != nil }

    init(name: String, kernel: ember_binary_op, promotesIntegersToFloat: Bool, allowsBool: Bool,
         derivative: (@Sendable (Tensor, Tensor, Tensor, Tensor, (Bool, Bool)) -> (Tensor?, Tensor?))?) {
        self.name = name
        self.kernel = kernel
        self.promotesIntegersToFloat = promotesIntegersToFloat
        self.allowsBool = allowsBool
        self.derivative = derivative
    }
}

extension BinaryOperation {
    static let add = BinaryOperation(name: "add", kernel: EMBER_ADD, promotesIntegersToFloat: false, allowsBool: true) { _, _, _, g, _ in (g, g) }
    static let sub = BinaryOperation(name: "sub", kernel: EMBER_SUB, promotesIntegersToFloat: false, allowsBool: false) { _, _, _, g, n in (g, n.1 ? -g : nil) }
    static let mul = BinaryOperation(name: "mul", kernel: EMBER_MUL, promotesIntegersToFloat: false, allowsBool: true) { a, b, _, g, n in
        (n.0 ? g * b : nil, n.1 ? g * a : nil)
    }
    static let div = BinaryOperation(name: "div", kernel: EMBER_DIV, promotesIntegersToFloat: true, allowsBool: false) { a, b, _, g, n in
        (n.0 ? g / b : nil, n.1 ? -g * a / (b * b) : nil)
    }
    static let pow = BinaryOperation(name: "pow", kernel: EMBER_POW, promotesIntegersToFloat: false, allowsBool: false) { a, b, y, g, n in
        // 0^b has derivative 0 with respect to b for b >= 0 (log(0) would give NaN).
        let gradA = n.0 ? g * b * a.pow(b - 1) : nil
        let gradB = n.1 ? Tensor.where((a .== 0) & (b .>= 0), Tensor.zerosLike(g), g * y * a.log()) : nil
        return (gradA, gradB)
    }
    static let maximum = BinaryOperation(name: "maximum", kernel: EMBER_MAXIMUM, promotesIntegersToFloat: false, allowsBool: true) { a, b, _, g, _ in
        // Ties share the gradient, as in PyTorch.
        let tie = (a .== b).to(g.dtype) * 0.5
        return (g * ((a .> b).to(g.dtype) + tie), g * ((a .< b).to(g.dtype) + tie))
    }
    static let minimum = BinaryOperation(name: "minimum", kernel: EMBER_MINIMUM, promotesIntegersToFloat: false, allowsBool: true) { a, b, _, g, _ in
        let tie = (a .== b).to(g.dtype) * 0.5
        return (g * ((a .< b).to(g.dtype) + tie), g * ((a .> b).to(g.dtype) + tie))
    }
    static let remainder = BinaryOperation(name: "remainder", kernel: EMBER_REMAINDER, promotesIntegersToFloat: false, allowsBool: false) { a, b, _, g, n in
        (g, n.1 ? -g * a.floorDivide(b) : nil)
    }
    static let floorDivide = BinaryOperation(name: "floorDivide", kernel: EMBER_FLOOR_DIVIDE, promotesIntegersToFloat: false, allowsBool: false, derivative: nil)
    static let atan2 = BinaryOperation(name: "atan2", kernel: EMBER_ATAN2, promotesIntegersToFloat: true, allowsBool: false) { a, b, _, g, _ in
        let denominator = a * a + b * b
        return (g * b / denominator, -g * a / denominator)
    }

    /// Every binary arithmetic operation, in the order the tests report them.
    public static let all: [BinaryOperation] = [add, sub, mul, div, pow, maximum, minimum, remainder, floorDivide, atan2]
}

extension Tensor {
    /// Applies a binary operation with broadcasting and type promotion.
    func apply(_ operation: BinaryOperation, _ other: Tensor) -> Tensor {
        Dispatch.apply(self, other, { _ in .binary(operation.name) },
                       rule: { _ in operation.isDifferentiable ? .binary(operation) : nil }) {
            if let result = applyWithoutPromotion(operation, other) { return result }
            let shape = Broadcast.shape(self.shape, other.shape, op: operation.name)
            var resultType = DType.resultType(self, other)
            if operation.promotesIntegersToFloat && resultType.isIntegral { resultType = DType.defaultFloat }
            if resultType == .bool && !operation.allowsBool {
                emberFailure("\(operation.name): not supported for bool tensors (use logical operations instead)")
            }
            let computeType = resultType.computeType
            let a = dtype == computeType ? self : withoutGrad { self.to(computeType) }
            let b = other.dtype == computeType ? other : withoutGrad { other.to(computeType) }
            var result = shape == a.shape ? Tensor(uninitializedLike: a, dtype: computeType)
                : shape == b.shape ? Tensor(uninitializedLike: b, dtype: computeType)
                : Tensor(uninitializedShape: shape, dtype: computeType)
            ElementwiseKernel.binary(operation.kernel, a, b, into: result)
            if computeType != resultType { result = withoutGrad { result.to(resultType) } }
            return result
        }
    }

    /// The commonest case on a short path: two contiguous operands of one shape and one dtype
    /// that is computed as stored, with nothing to record. It skips broadcasting, type
    /// promotion and the strided loop, which cost more than the kernel for a tiny tensor.
    /// nil when the general path is needed.
    @inline(__always)
    private func applyWithoutPromotion(_ operation: BinaryOperation, _ other: Tensor) -> Tensor? {
        let dtype = self.dtype
        guard dtype == other.dtype, dtype.computeType == dtype, dtype != .bool,
              !(operation.promotesIntegersToFloat && dtype.isIntegral),
              !GraphRecorder.shouldRecord(self, other),
              layout.shape == other.layout.shape, layout.isContiguous, other.layout.isContiguous
        else { return nil }
        let result = Tensor(uninitializedLike: self, dtype: dtype)
        ElementwiseKernel.binaryContiguous(operation.kernel, self, other, into: result)
        return result
    }

    /// `self op scalar` (or `scalar op self`) for a Swift scalar. The common case, a contiguous
    /// tensor whose dtype the scalar does not change and nothing to record, hands the scalar
    /// to the kernel from a stack buffer, so no tensor is made for it; anything else goes
    /// through `apply(_:_:)` with a wrapped-number tensor.
    func apply<S: TensorElement>(_ operation: BinaryOperation, scalar: S, scalarOnLeft: Bool = false) -> Tensor {
        if Tracing.isActive && Tracing.recordingContext != nil {
            // Traced: the scalar becomes a constant of the graph.
            let wrapped = Tensor(wrapping: scalar)
            return scalarOnLeft ? wrapped.apply(operation, self) : apply(operation, wrapped)
        }
        let scalarCategory = S.dtype.category
        var resultType = scalarCategory <= dtype.category ? dtype
            : (S.dtype.isFloatingPoint ? DType.defaultFloat : .int64)
        if operation.promotesIntegersToFloat && resultType.isIntegral { resultType = DType.defaultFloat }
        guard resultType == dtype, dtype.computeType == dtype, isContiguous, dtype != .bool,
              !GraphRecorder.shouldRecord(self) else {
            let wrapped = Tensor(wrapping: scalar)
            return scalarOnLeft ? wrapped.apply(operation, self) : apply(operation, wrapped)
        }
        var buffer: Int64 = 0
        withUnsafeMutableBytes(of: &buffer) { bytes in
            let pointer = bytes.baseAddress!
            switch dtype {
            case .int64: pointer.storeBytes(of: scalar.emberInt64, as: Int64.self)
            case .int32: pointer.storeBytes(of: Int32(truncatingIfNeeded: scalar.emberInt64), as: Int32.self)
            case .uint8: pointer.storeBytes(of: UInt8(truncatingIfNeeded: scalar.emberInt64), as: UInt8.self)
            default: ember_fill(dtype.cType, pointer, 1, scalar.emberDouble)
            }
        }
        let result = Tensor(uninitializedLike: self, dtype: dtype)
        withUnsafeBytes(of: &buffer) { bytes in
            ElementwiseKernel.binary(operation.kernel, self, scalar: bytes.baseAddress!, scalarOnLeft: scalarOnLeft, into: result)
        }
        return result
    }

    /// Sums broadcast dimensions away so a gradient matches an input of `target` shape.
    func sumToShape(_ target: [Int]) -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        var dims = Array(0..<lead)
        for (i, size) in target.enumerated() where size == 1 && shape[lead + i] != 1 {
            dims.append(lead + i)
        }
        var reduced = dims.isEmpty ? self : sum(dims: dims, keepDim: true)
        if lead > 0 || reduced.shape != target { reduced = reduced.reshaped(target) }
        return reduced
    }

    /// Elementwise sum, `self + alpha * other`.
    public func add(_ other: Tensor, alpha: Double = 1) -> Tensor {
        alpha == 1 ? apply(.add, other) : apply(.add, other * alpha)
    }
    /// Elementwise difference, `self - alpha * other`.
    public func sub(_ other: Tensor, alpha: Double = 1) -> Tensor {
        alpha == 1 ? apply(.sub, other) : apply(.sub, other * alpha)
    }
    /// Elementwise product.
    public func mul(_ other: Tensor) -> Tensor { apply(.mul, other) }
    /// Elementwise true division (integers divide as floats).
    public func div(_ other: Tensor) -> Tensor { apply(.div, other) }
    /// Elementwise power.
    ///
    ///     x.pow(2)
    public func pow(_ exponent: Tensor) -> Tensor { apply(.pow, exponent) }
    /// Elementwise power with a scalar exponent.
    public func pow<S: TensorElement>(_ exponent: S) -> Tensor { apply(.pow, scalar: exponent) }
    /// Elementwise maximum; NaN wins, as in PyTorch.
    public func maximum(_ other: Tensor) -> Tensor { apply(.maximum, other) }
    /// Elementwise minimum; NaN wins.
    public func minimum(_ other: Tensor) -> Tensor { apply(.minimum, other) }
    /// Python-style remainder: the result has the sign of the divisor.
    public func remainder(_ other: Tensor) -> Tensor { apply(.remainder, other) }
    /// Division rounded toward negative infinity.
    public func floorDivide(_ other: Tensor) -> Tensor { apply(.floorDivide, other) }
    /// Elementwise atan2(self, other), the angle of the point (other, self).
    public func atan2(_ other: Tensor) -> Tensor { apply(.atan2, other) }

    /// Elementwise maximum of two tensors (free-function form).
    public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor { a.maximum(b) }
    /// Elementwise minimum of two tensors (free-function form).
    public static func minimum(_ a: Tensor, _ b: Tensor) -> Tensor { a.minimum(b) }
}

// MARK: - Comparisons and logic

extension Tensor {
    func compare(_ op: ember_compare_op, _ other: Tensor, name: String) -> Tensor {
        Dispatch.apply(self, other, { _ in Primitive.Comparison(rawValue: name).map { .compare($0) } }) {
            let shape = Broadcast.shape(self.shape, other.shape, op: name)
            let common = DType.resultType(self, other).computeType
            let a = withoutGrad { self.to(common) }, b = withoutGrad { other.to(common) }
            let result = Tensor(uninitializedShape: shape, dtype: .bool)
            ElementwiseKernel.compare(op, a, b, into: result)
            return result
        }
    }

    func logical(_ op: ember_binary_op, _ other: Tensor, name: String) -> Tensor {
        Dispatch.apply(self, other, { _ in .logical(name) }) {
            let shape = Broadcast.shape(self.shape, other.shape, op: name)
            let a = withoutGrad { self.to(.bool) }, b = withoutGrad { other.to(.bool) }
            let result = Tensor(uninitializedShape: shape, dtype: .bool)
            ElementwiseKernel.binary(op, a, b, into: result)
            return result
        }
    }

    /// Elementwise logical and of the truth values (non-zero is true).
    public func logicalAnd(_ other: Tensor) -> Tensor { logical(EMBER_LOGICAL_AND, other, name: "logicalAnd") }
    /// Elementwise logical or.
    public func logicalOr(_ other: Tensor) -> Tensor { logical(EMBER_LOGICAL_OR, other, name: "logicalOr") }
    /// Elementwise logical exclusive or.
    public func logicalXor(_ other: Tensor) -> Tensor { logical(EMBER_LOGICAL_XOR, other, name: "logicalXor") }
    /// Elementwise logical not, as a bool tensor.
    public func logicalNot() -> Tensor { withoutGrad { self.to(.bool) .== Tensor(false) } }

    /// True where the element is neither infinite nor NaN.
    public func isFinite() -> Tensor {
        if dtype.isIntegral { return Tensor.full(shape, true) }
        return withoutGrad { (self - self) .== (self - self) }
    }
    /// True where the element is NaN.
    public func isNaN() -> Tensor { withoutGrad { self .!= self } }
    /// True where the element is +infinity or -infinity.
    public func isInf() -> Tensor {
        if dtype.isIntegral { return Tensor.full(shape, false) }
        return withoutGrad { self.abs() .== Tensor(wrapping: Double.infinity) }
    }

    /// Picks elements of `a` where `condition` is true and of `b` elsewhere, broadcasting all three.
    ///
    ///     Tensor.where(x .> 0, x, x * 0.1)
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        Dispatch.apply([condition, a, b], { _ in .select }) {
            emberPrecondition(condition.dtype == .bool, "where: expected condition to be a boolean tensor, but got a tensor with dtype \(condition.dtype)")
            let shape = Broadcast.shape(Broadcast.shape(condition.shape, a.shape, op: "where"), b.shape, op: "where")
            let resultType = DType.resultType(a, b)
            let x = withoutGrad { a.to(resultType) }, y = withoutGrad { b.to(resultType) }
            let result = Tensor(uninitializedShape: shape, dtype: resultType)
            let conditionStrides = Broadcast.strides(of: condition.layout, to: shape).map(Int64.init)
            let aStrides = Broadcast.strides(of: x.layout, to: shape).map(Int64.init)
            let bStrides = Broadcast.strides(of: y.layout, to: shape).map(Int64.init)
            let outStrides = result.strides.map(Int64.init)
            let shape64 = shape.map(Int64.init)
            ember_where(resultType.cType, Int32(shape.count), shape64, result.baseAddress, outStrides,
                        condition.baseAddress.assumingMemoryBound(to: Bool.self), conditionStrides,
                        x.baseAddress, aStrides, y.baseAddress, bStrides)
            return result
        }
    }
}
