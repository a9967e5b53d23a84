import CEmberKernels
import EmberKernels

// Operators follow PyTorch: `+ - * /` broadcast and promote, comparisons return bool tensors.
// A Swift scalar on either side is a "wrapped number": `x * 2` keeps x's dtype, as in PyTorch.
// One generic overload per side (rather than one per scalar type) keeps expressions such as
// `a * 2 + b / 3 - c` quick to type-check.

extension Tensor {
    /// A 0-d tensor from a Swift scalar that promotes like PyTorch's Python numbers.
    convenience init<S: TensorElement>(wrapping scalar: S) {
        let dtype: DType = S.dtype.isFloatingPoint ? .float64 : (S.dtype == .bool ? .bool : .int64)
        let storage = TensorStorage(byteCount: 8)
        switch dtype {
        case .float64: storage.pointer.storeBytes(of: scalar.emberDouble, as: Double.self)
        case .int64: storage.pointer.storeBytes(of: scalar.emberInt64, as: Int64.self)   // exact beyond 2^53
        default: storage.pointer.storeBytes(of: scalar.emberInt64 != 0, as: Bool.self)
        }
        self.init(storage: storage, layout: Layout.scalar, dtype: dtype, isWrappedNumber: true)
        Tracing.noteConstant(self)
    }

    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.apply(.add, rhs) }
    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.apply(.sub, rhs) }
    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.apply(.mul, rhs) }
    public static func / (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.apply(.div, rhs) }
    public static prefix func - (operand: Tensor) -> Tensor { operand.apply(.neg) }

    public static func + <S: TensorElement>(lhs: Tensor, rhs: S) -> Tensor { lhs.apply(.add, scalar: rhs) }
    public static func - <S: TensorElement>(lhs: Tensor, rhs: S) -> Tensor { lhs.apply(.sub, scalar: rhs) }
    public static func * <S: TensorElement>(lhs: Tensor, rhs: S) -> Tensor { lhs.apply(.mul, scalar: rhs) }
    public static func / <S: TensorElement>(lhs: Tensor, rhs: S) -> Tensor { lhs.apply(.div, scalar: rhs) }
    public static func + <S: TensorElement>(lhs: S, rhs: Tensor) -> Tensor { rhs.apply(.add, scalar: lhs, scalarOnLeft: true) }
    public static func - <S: TensorElement>(lhs: S, rhs: Tensor) -> Tensor { rhs.apply(.sub, scalar: lhs, scalarOnLeft: true) }
    public static func * <S: TensorElement>(lhs: S, rhs: Tensor) -> Tensor { rhs.apply(.mul, scalar: lhs, scalarOnLeft: true) }
    public static func / <S: TensorElement>(lhs: S, rhs: Tensor) -> Tensor { rhs.apply(.div, scalar: lhs, scalarOnLeft: true) }

    public static func .== (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.compare(EMBER_EQ, rhs, name: "eq") }
    public static func .!= (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.compare(EMBER_NE, rhs, name: "ne") }
    public static func .< (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.compare(EMBER_LT, rhs, name: "lt") }
    public static func .<= (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.compare(EMBER_LE, rhs, name: "le") }
    public static func .> (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.compare(EMBER_GT, rhs, name: "gt") }
    public static func .>= (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.compare(EMBER_GE, rhs, name: "ge") }
    public static func .== <S: TensorElement>(lhs: Tensor, rhs: S) -> Tensor { lhs .== Tensor(wrapping: rhs) }
    public static func .!= <S: TensorElement>(lhs: Tensor, rhs: S) -> Tensor { lhs .!= Tensor(wrapping: rhs) }
    public static func .< <S: TensorElement>(lhs: Tensor, rhs: S) -> Tensor { lhs .< Tensor(wrapping: rhs) }
    public static func .<= <S: TensorElement>(lhs: Tensor, rhs: S) -> Tensor { lhs .<= Tensor(wrapping: rhs) }
    public static func .> <S: TensorElement>(lhs: Tensor, rhs: S) -> Tensor { lhs .> Tensor(wrapping: rhs) }
    public static func .>= <S: TensorElement>(lhs: Tensor, rhs: S) -> Tensor { lhs .>= Tensor(wrapping: rhs) }

    /// Elementwise logical and of bool tensors (bitwise and of integers is not provided).
    public static func & (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.logicalAnd(rhs) }
    /// Elementwise logical or of bool tensors.
    public static func | (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.logicalOr(rhs) }
    /// Elementwise logical exclusive or of bool tensors.
    public static func ^ (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.logicalXor(rhs) }
    /// Elementwise logical not.
    public static prefix func ! (operand: Tensor) -> Tensor { operand.logicalNot() }
}

// MARK: - In-place operations

extension Tensor {
    /// Writes `value` into this tensor's memory (through views) and records the change.
    /// In grad mode, a leaf that requires grad cannot be modified in place (PyTorch's rule);
    /// a non-leaf takes the new value's history.
    func assignInPlace(_ value: Tensor, op: String) {
        if ThreadState.current.gradEnabled, let meta = autograd, meta.requiresGrad, meta.gradFunction == nil {
            emberFailure("\(op): a leaf Variable that requires grad is being used in an in-place operation.")
        }
        emberPrecondition(Broadcast.shape(shape, value.shape, op: op) == shape,
                     "\(op): output with shape \(shape) doesn't match the broadcast shape \(Broadcast.shape(shape, value.shape, op: op))")
        Tracing.writeInPlace(value, into: self, op: op) {
            CopyKernel.copy(from: value, into: self)
            storage.bumpVersion()
        }
        if let valueMeta = value.autograd, valueMeta.gradFunction != nil, ThreadState.current.gradEnabled {
            // Take over the history of the computed value: backward through this tensor
            // now flows into the operation that produced its new contents.
            let meta = autograd ?? AutogradMeta(requiresGrad: true)
            meta.requiresGrad = true
            meta.gradFunction = valueMeta.gradFunction
            meta.outputIndex = valueMeta.outputIndex
            autograd = meta
        }
    }

    /// `self = self op other`, computed straight into this tensor's memory when nothing needs
    /// recording and the result keeps this tensor's shape and dtype; otherwise computed out of
    /// place and copied in (which also handles autograd history and overlapping operands).
    func updateInPlace(_ operation: BinaryOperation, _ other: Tensor, op: String) {
        // While tracing, the write goes through `assignInPlace`, which records it.
        let recording = GraphRecorder.shouldRecord(self, other) || Tracing.recordingContext != nil
        if !recording && dtype == dtype.computeType && isContiguous
            && DType.resultType(self, other) == dtype
            && Broadcast.shape(shape, other.shape, op: op) == shape
            && (other.storage !== storage || other.layout == layout)
            && !(operation.promotesIntegersToFloat && dtype.isIntegral) {
            let operand = other.dtype == dtype ? other : withoutGrad { other.to(dtype) }
            ElementwiseKernel.binary(operation.kernel, self, operand, into: self)
            storage.bumpVersion()
            return
        }
        assignInPlace(apply(operation, other), op: op)
    }

    public static func += (lhs: Tensor, rhs: Tensor) { lhs.updateInPlace(.add, rhs, op: "add_") }
    public static func -= (lhs: Tensor, rhs: Tensor) { lhs.updateInPlace(.sub, rhs, op: "sub_") }
    public static func *= (lhs: Tensor, rhs: Tensor) { lhs.updateInPlace(.mul, rhs, op: "mul_") }
    public static func /= (lhs: Tensor, rhs: Tensor) { lhs.updateInPlace(.div, rhs, op: "div_") }
    public static func += <S: TensorElement>(lhs: Tensor, rhs: S) { lhs.updateInPlace(.add, Tensor(wrapping: rhs), op: "add_") }
    public static func -= <S: TensorElement>(lhs: Tensor, rhs: S) { lhs.updateInPlace(.sub, Tensor(wrapping: rhs), op: "sub_") }
    public static func *= <S: TensorElement>(lhs: Tensor, rhs: S) { lhs.updateInPlace(.mul, Tensor(wrapping: rhs), op: "mul_") }
    public static func /= <S: TensorElement>(lhs: Tensor, rhs: S) { lhs.updateInPlace(.div, Tensor(wrapping: rhs), op: "div_") }

    /// In-place `self += alpha * other`; returns self.
    @discardableResult
    public func add_(_ other: Tensor, alpha: Double = 1) -> Tensor {
        if alpha != 1 && addScaledInOnePass(other, alpha: alpha) { return self }
        updateInPlace(.add, alpha == 1 ? other : other * alpha, op: "add_")
        return self
    }

    /// `self += alpha * other` in one pass of `ember_axpy` when both are contiguous float32 or
    /// float64 tensors of one shape and dtype, in distinct storage or the same view, with nothing to
    /// record (an optimizer's update); false, having done nothing, otherwise. Same bits as the
    /// two-op form.
    private func addScaledInOnePass(_ other: Tensor, alpha: Double) -> Bool {
        guard dtype == .float32 || dtype == .float64, other.dtype == dtype, other.shape == shape,
              isContiguous, other.isContiguous, other.storage !== storage || other.layout == layout,
              !GraphRecorder.shouldRecord(self, other), Tracing.recordingContext == nil else { return false }
        let size = dtype.byteSize, cType = dtype.cType
        let y = baseAddress, x = UnsafeRawPointer(other.baseAddress)
        ParallelLoop.run(count: count, grain: ElementwiseKernel.grain) { range in
            ember_axpy(cType, Int64(range.count), alpha, x + range.lowerBound * size, y + range.lowerBound * size)
        }
        storage.bumpVersion()
        return true
    }
    /// In-place `self *= other`; returns self.
    @discardableResult
    public func mul_(_ other: Tensor) -> Tensor { updateInPlace(.mul, other, op: "mul_"); return self }
    /// Sets every element to zero; returns self.
    @discardableResult
    public func zero_() -> Tensor { fill_(0) }
    /// Sets every element to `value`; returns self.
    @discardableResult
    public func fill_<S: TensorElement>(_ value: S) -> Tensor {
        assignInPlace(withoutGrad { Tensor(wrapping: value).to(dtype) }, op: "fill_")
        return self
    }
    /// Copies `source` (broadcast, converted) into this tensor; returns self.
    @discardableResult
    public func copy_(_ source: Tensor) -> Tensor {
        if GraphRecorder.shouldRecord(source) {
            assignInPlace(source.to(dtype).expanded(to: shape).contiguous(), op: "copy_")
        } else {
            assignInPlace(source, op: "copy_")
        }
        return self
    }
    /// Clamps in place; returns self.
    @discardableResult
    public func clamp_(min: Double? = nil, max: Double? = nil) -> Tensor { assignInPlace(clamp(min: min, max: max), op: "clamp_"); return self }
    /// Applies relu in place; returns self.
    @discardableResult
    public func relu_() -> Tensor { assignInPlace(relu(), op: "relu_"); return self }
}
