import CEmberKernels

/// The element type of a tensor, chosen at run time as in PyTorch.
///
/// `float16` and `bfloat16` are storage types: arithmetic on them runs in float32 and the
/// result is rounded back, so a half-precision model halves its memory without needing
/// half-precision kernels.
///
///     let x = Tensor.zeros([2, 3], dtype: .float64)
///     x.dtype            // .float64
public enum DType: Int, Sendable, CaseIterable, CustomStringConvertible {
    case float32 = 0, float64, float16, bfloat16, int32, int64, uint8, bool

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16: return 2
        case .uint8, .bool: return 1
        }
    }

    /// True for the four floating-point types.
    public var isFloatingPoint: Bool {
        switch self {
        case .float32, .float64, .float16, .bfloat16: return true
        default: return false
        }
    }

    /// True for the integer types and bool.
    public var isIntegral: Bool { !isFloatingPoint }

    /// The type the kernels compute in: 16-bit floats compute in float32.
    var computeType: DType {
        (self == .float16 || self == .bfloat16) ? .float32 : self
    }

    var cType: ember_dtype { ember_dtype(rawValue: UInt32(rawValue)) }

    /// PyTorch's name, e.g. `float32`.
    public var description: String {
        switch self {
        case .float32: return "float32"
        case .float64: return "float64"
        case .float16: return "float16"
        case .bfloat16: return "bfloat16"
        case .int32: return "int32"
        case .int64: return "int64"
        case .uint8: return "uint8"
        case .bool: return "bool"
        }
    }

    /// The dtype that floating-point factories and int-to-float promotion use.
    nonisolated(unsafe) public static var defaultFloat: DType = .float32

    /// 0 bool, 1 integer, 2 floating point: the categories of PyTorch's promotion rules.
    var category: Int {
        switch self {
        case .bool: return 0
        case .uint8, .int32, .int64: return 1
        default: return 2
        }
    }
}

// MARK: - Type promotion

extension DType {
    /// The type that two tensors of these dtypes promote to (PyTorch's `promote_types`).
    ///
    ///     DType.promote(.int32, .float16)   // .float16
    ///     DType.promote(.float16, .bfloat16) // .float32
    public static func promote(_ a: DType, _ b: DType) -> DType {
        if a == b { return a }
        if a == .bool { return b }
        if b == .bool { return a }
        if a.category != b.category { return a.category > b.category ? a : b }
        if a.isFloatingPoint {
            if (a == .float16 && b == .bfloat16) || (a == .bfloat16 && b == .float16) { return .float32 }
            return a.byteSize >= b.byteSize ? a : b
        }
        // Integers: the wider one; uint8 with a signed type gives the signed type.
        if a == .uint8 { return b }
        if b == .uint8 { return a }
        return a.byteSize >= b.byteSize ? a : b
    }
}

/// How strongly an operand takes part in type promotion, as in PyTorch: tensors with
/// dimensions win over 0-d tensors, which win over Swift scalars ("wrapped numbers"),
/// unless a weaker operand belongs to a higher category (bool < integer < floating).
enum PromotionPriority: Int {
    case wrappedNumber = 0, zeroDimensional = 1, dimensioned = 2
}

extension DType {
    /// The result dtype of a binary op on `a` and `b`, following PyTorch's `result_type`.
    static func resultType(_ a: Tensor, _ b: Tensor) -> DType {
        let pa = a.promotionPriority, pb = b.promotionPriority
        if pa == pb { return promote(a.dtype, b.dtype) }
        let (strong, weak) = pa.rawValue > pb.rawValue ? (a, b) : (b, a)
        if weak.dtype.category <= strong.dtype.category { return strong.dtype }
        // The weaker operand is of a higher category: its category decides, at its default width.
        if weak.isWrappedNumber {
            return weak.dtype.isFloatingPoint ? DType.defaultFloat : .int64
        }
        return weak.dtype
    }
}
