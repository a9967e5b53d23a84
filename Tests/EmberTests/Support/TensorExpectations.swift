import Testing
@testable import Ember

/// Tolerances for comparing with references computed in double precision.
func defaultTolerance(_ dtype: DType) -> (relative: Double, absolute: Double) {
    switch dtype {
    case .float64: return (1e-10, 1e-12)
    case .float32: return (2e-5, 1e-6)
    case .float16: return (2e-3, 1e-3)
    case .bfloat16: return (1.6e-2, 1e-2)
    default: return (0, 0)
    }
}

/// Records a test issue unless `actual` matches `expected` in shape, dtype and values
/// (NaN matches NaN, infinities match exactly).
func expectClose(_ actual: Tensor, _ expected: Tensor, relative: Double? = nil, absolute: Double? = nil,
                 checkDType: Bool = true, _ context: String = "", sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, "\(context): shape \(actual.shape) != expected \(expected.shape)", sourceLocation: sourceLocation)
    if checkDType {
        #expect(actual.dtype == expected.dtype, "\(context): dtype \(actual.dtype) != expected \(expected.dtype)", sourceLocation: sourceLocation)
    }
    guard actual.shape == expected.shape else { return }
    let tolerance = defaultTolerance(expected.dtype)
    let rtol = relative ?? tolerance.relative, atol = absolute ?? tolerance.absolute
    let a = actual.scalars(as: Double.self), e = expected.scalars(as: Double.self)
    for i in a.indices {
        let x = a[i], y = e[i]
        if x.isNaN && y.isNaN { continue }
        if x == y { continue }
        if !(Swift.abs(x - y) <= atol + rtol * Swift.abs(y)) {
            Issue.record("\(context): element \(i) is \(x), expected \(y) (shape \(actual.shape))", sourceLocation: sourceLocation)
            return
        }
    }
}

/// The same values as `tensor` in layouts that are not contiguous: transposed, and strided
/// (every other element of a larger buffer). The reference checks run every op on each of
/// them; broadcast (stride-0) inputs come from the fixtures' broadcasting cases.
func nonContiguousVariants(of tensor: Tensor) -> [(name: String, tensor: Tensor)] {
    var variants: [(String, Tensor)] = []
    if tensor.rank >= 2 {
        // Values stored transposed, then viewed back: same values, reversed strides.
        let dims = Array((0..<tensor.rank).reversed())
        let stored = tensor.permuted(dims).contiguous()
        variants.append(("transposed", stored.permuted(dims)))
    }
    if tensor.rank >= 1 && tensor.count > 0 {
        // Every other element of a buffer twice as long in the last dimension.
        var wide = tensor.shape
        wide[wide.count - 1] *= 2
        let buffer = Tensor.zeros(wide, dtype: tensor.dtype)
        let strided = buffer[..., stride(from: 0, to: wide.last!, by: 2)]
        strided.copy_(tensor)
        variants.append(("strided", strided))
    }
    return variants
}
