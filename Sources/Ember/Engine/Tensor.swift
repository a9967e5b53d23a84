import CEmberKernels

/// An N-dimensional array with a run-time dtype, strided views over shared storage, and
/// define-by-run automatic differentiation.
///
/// `Tensor` has reference semantics, like a PyTorch tensor: `let b = a` names the same tensor,
/// in-place operations (`+=`, `fill_`) are visible through every view of the same storage,
/// and `requiresGrad`/`grad` belong to the object. Every operation runs when it is called,
/// so any intermediate value can be printed.
///
///     let x = Tensor([[1, 2], [3, 4]] as [[Float]])
///     let y = (x * 2 + 1).relu()
///     print(y.sum())            // tensor(24.)
public final class Tensor: @unchecked Sendable {
    /// The memory this tensor views, shared with every other view of it.
    public let storage: TensorStorage
    /// Shape, strides and offset into `storage`.
    public let layout: Layout
    /// The element type.
    public let dtype: DType
    /// Set for tensors made from Swift scalars in expressions such as `x * 2`: they take part
    /// in type promotion like PyTorch's wrapped numbers (they never widen the other operand).
    let isWrappedNumber: Bool
    /// Autograd state, created only for tensors that take part in differentiation.
    /// Unchecked exclusivity: read on every op, and like PyTorch's autograd metadata it is
    /// not synchronised (a tensor is not mutated by two threads at once).
    @exclusivity(unchecked) var autograd: AutogradMeta?

    init(storage: TensorStorage, layout: Layout, dtype: DType, isWrappedNumber: Bool = false) {
        self.storage = storage
        self.layout = layout
        self.dtype = dtype
        self.isWrappedNumber = isWrappedNumber
        if Tracing.isActive { Tracing.noteCreated(self) }
    }

    /// Allocates an uninitialised contiguous tensor.
    init(uninitializedShape shape: [Int], dtype: DType) {
        let layout = Layout(contiguous: shape)
        self.storage = TensorStorage(byteCount: layout.count * dtype.byteSize)
        self.layout = layout
        self.dtype = dtype
        self.isWrappedNumber = false
        if Tracing.isActive { Tracing.noteCreated(self) }
    }

    /// Allocates an uninitialised contiguous tensor shaped like `template`, sharing its
    /// shape and strides arrays when `template` is contiguous with no offset.
    init(uninitializedLike template: Tensor, dtype: DType) {
        let layout = template.layout.offset == 0 && template.isContiguous
            ? template.layout : Layout(contiguous: template.shape)
        self.storage = TensorStorage(byteCount: layout.count * dtype.byteSize)
        self.layout = layout
        self.dtype = dtype
        self.isWrappedNumber = false
        if Tracing.isActive { Tracing.noteCreated(self) }
    }

    /// A view of the same storage with another layout (the result of a view operation).
    func view(as layout: Layout) -> Tensor {
        Tensor(storage: storage, layout: layout, dtype: dtype)
    }

    // MARK: Inspection

    /// The size of each dimension.
    public var shape: [Int] { layout.shape }
    /// The step, in elements, between neighbours along each dimension.
    public var strides: [Int] { layout.strides }
    /// Offset of the first element in `storage`, in elements.
    public var storageOffset: Int { layout.offset }
    /// Number of dimensions.
    public var rank: Int { layout.rank }
    /// Number of elements.
    public var count: Int { layout.count }
    /// True when the elements are laid out in row-major order without gaps.
    public var isContiguous: Bool { layout.isContiguous }

    /// The size of dimension `dim` (negative counts from the end).
    public func size(_ dim: Int) -> Int { shape[normalizedDim(dim, op: "size")] }

    var promotionPriority: PromotionPriority {
        if isWrappedNumber { return .wrappedNumber }
        return rank == 0 ? .zeroDimensional : .dimensioned
    }

    /// Pointer to the first element of this view.
    var baseAddress: UnsafeMutableRawPointer {
        storage.pointer + layout.offset * dtype.byteSize
    }

    /// Normalises a possibly negative dimension, stopping with a message naming `op`.
    func normalizedDim(_ dim: Int, op: String, rank: Int? = nil) -> Int {
        let rank = rank ?? self.rank
        let bound = Swift.max(rank, 1)
        emberPrecondition(dim >= -bound && dim < bound,
                     "\(op): dimension out of range (expected to be in range of [\(-bound), \(bound - 1)], but got \(dim)) for a tensor of shape \(shape)")
        return dim < 0 ? dim + bound : dim
    }
}

// MARK: - Elements

/// Swift types that can be read from and written to tensors.
public protocol TensorElement: Sendable {
    /// The dtype that stores this type.
    static var dtype: DType { get }
    /// Converts from the kernels' common currency.
    init(emberDouble: Double)
    var emberDouble: Double { get }
    /// The value as an integer (exact for integer types; truncated for floating point).
    var emberInt64: Int64 { get }
}

extension BinaryInteger {
    public var emberInt64: Int64 { Int64(truncatingIfNeeded: self) }
}
extension BinaryFloatingPoint {
    public var emberInt64: Int64 { isFinite ? Int64(self) : 0 }
}
extension Bool {
    public var emberInt64: Int64 { self ? 1 : 0 }
}

extension Float: TensorElement {
    public static var dtype: DType { .float32 }
    public init(emberDouble: Double) { self = Float(emberDouble) }
    public var emberDouble: Double { Double(self) }
}
extension Double: TensorElement {
    public static var dtype: DType { .float64 }
    public init(emberDouble: Double) { self = emberDouble }
    public var emberDouble: Double { self }
}
extension Int32: TensorElement {
    public static var dtype: DType { .int32 }
    public init(emberDouble: Double) { self = Int32(truncatingIfNeeded: Int64(emberDouble)) }
    public var emberDouble: Double { Double(self) }
}
extension Int64: TensorElement {
    public static var dtype: DType { .int64 }
    public init(emberDouble: Double) { self = Int64(emberDouble) }
    public var emberDouble: Double { Double(self) }
}
/// Swift `Int` is stored as int64, PyTorch's default integer type.
extension Int: TensorElement {
    public static var dtype: DType { .int64 }
    public init(emberDouble: Double) { self = Int(emberDouble) }
    public var emberDouble: Double { Double(self) }
}
extension UInt8: TensorElement {
    public static var dtype: DType { .uint8 }
    public init(emberDouble: Double) { self = UInt8(truncatingIfNeeded: Int64(emberDouble)) }
    public var emberDouble: Double { Double(self) }
}
extension Bool: TensorElement {
    public static var dtype: DType { .bool }
    public init(emberDouble: Double) { self = emberDouble != 0 }
    public var emberDouble: Double { self ? 1 : 0 }
}

extension Tensor {
    /// The elements in row-major order, converted to `T`.
    ///
    ///     Tensor([1, 2, 3] as [Float]).scalars(as: Float.self)   // [1.0, 2.0, 3.0]
    public func scalars<T: TensorElement>(as type: T.Type = T.self) -> [T] {
        if Tracing.isActive { Tracing.noteValueRead(self, op: "scalars") }
        let source = (dtype == T.dtype && isContiguous) ? self : withoutGrad { self.to(T.dtype).contiguous() }
        // Int is read straight from int64 storage: Ember supports 64-bit platforms only.
        return Array(UnsafeBufferPointer(start: source.baseAddress.assumingMemoryBound(to: T.self), count: count))
    }

    /// The value of a one-element tensor.
    ///
    ///     Tensor([[3.5]] as [[Double]]).item(as: Double.self)   // 3.5
    public func item<T: TensorElement>(as type: T.Type = T.self) -> T {
        emberPrecondition(count == 1, "item: a Tensor with \(count) elements cannot be converted to a scalar (shape \(shape))")
        return scalars(as: T.self)[0]
    }

    /// The value of a one-element tensor as a Double (any dtype).
    public func item() -> Double { item(as: Double.self) }
}
