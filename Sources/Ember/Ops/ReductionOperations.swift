import EmberKernels

/// The definition of one dim-list reduction (`x.sum(dims: [0, 2], keepDim: true)` and its
/// kind): its name, how it accumulates, its dtype rule and its backward rule, in one place.
/// `ReductionOperation.all` is the list the tests iterate; every public method of the family
/// (`sum`, `mean`, `prod`, `amax`, `amin`, `all`, `any`, `logsumexp`, `norm` with p = 2) goes
/// through `Tensor.reduce(_:dims:keepDim:)`, so the definition is the only place that says
/// what the op does.
///
/// The shape rule is shared by the whole family: the reduced dims are removed, or kept as size 1
/// with `keepDim`. Left out on purpose, because they are not one accumulation with one backward
/// rule: `variance` and `std` (a correction parameter and two passes, written in Tensor ops, so
/// their gradients come from the pieces), `norm` for p ≠ 2 (compositions of `abs`, `pow`, `sum`
/// and `amax`), and the reductions along one dim that also return indices (`max(dim:)`,
/// `argmax`). `OperationCatalog` lists those too.
///
///     ReductionOperation.all.map(\.name)   // ["sum", "mean", "prod", "amax", "amin", …]
///
/// A final class for the same reason as `UnaryOperation`: one reference is cheap to pass.
public final class ReductionOperation: Sendable, CustomStringConvertible {
    /// What the forward pass computes over the reduced elements.
    enum Accumulation: Sendable {
        /// One pass of a C reduction (`ember_reduce.h`).
        case kernel(ReductionOp)
        /// The sum kernel, then a division by the number of elements reduced.
        case mean
        /// The sum-of-squares kernel, then a square root.
        case euclideanNorm
        /// log(sum(exp(x))) shifted by the maximum: the fused row kernel when the reduced axes are
        /// innermost in memory, otherwise max, exp, sum and log.
        case logSumExp
    }

    /// Which input dtypes the op accepts and the dtype it returns. float16 and bfloat16 compute
    /// in float32 and are rounded back, for every rule.
    enum DTypeRule: Sendable {
        /// Floats keep their dtype; integers and bool accumulate in int64 (sum, prod).
        case integersToInt64
        /// The input's dtype, bool included (amax, amin).
        case keepsType
        /// bool, whatever the input (all, any).
        case bool
        /// Floats only, keeping their dtype; integer inputs stop with PyTorch's message (mean, norm).
        case floatingPointOnly
        /// Floats keep their dtype; integers and bool compute in `DType.defaultFloat` (logsumexp).
        case integersToDefaultFloat
    }

    /// The backward rule, by what it reads. The gradient (and output) arrive with the reduced
    /// axes kept as size 1, so they broadcast against the input; whatever the rule returns is
    /// expanded to the input's shape. Written in Tensor operations, so it is differentiable.
    enum Derivative: Sendable {
        /// Reads only the gradient and the number of elements each output reduced, so nothing
        /// is kept alive for backward (sum, mean).
        case fromGradient(@Sendable (_ gradient: Tensor, _ count: Int) -> Tensor)
        /// Reads the input and output as well; both are saved and checked against later in-place
        /// changes. `axes` are the reduced axes of the input, sorted.
        case fromInputAndOutput(@Sendable (_ x: Tensor, _ y: Tensor, _ gradient: Tensor, _ axes: [Int]) -> Tensor)
    }

    /// The op's name: the method's, and what `gradFunction` and test reports show.
    public let name: String
    /// The op as PyTorch spells it in error messages ("mean()", "sum").
    let messageName: String
    let accumulation: Accumulation
    let dtypeRule: DTypeRule
    /// False for amax and amin: an empty reduced axis stops, as in PyTorch (sum has 0, prod 1).
    let hasIdentity: Bool
    /// nil: not differentiable (all, any).
    let derivative: Derivative?

    public var description: String { name }

    /// Whether the op records a backward rule.
    ///
    ///     ReductionOperation.all.filter(\.isDifferentiable).count   // every one but all and any
    public var isDifferentiable: Bool { derivative != nil }

    init(name: String, messageName: String? = nil, accumulation: Accumulation, dtypeRule: DTypeRule,
         hasIdentity: Bool = true, derivative: Derivative?) {
        self.name = name
        self.messageName = messageName ?? name
        self.accumulation = accumulation
        self.dtypeRule = dtypeRule
        self.hasIdentity = hasIdentity
        self.derivative = derivative
    }

    /// The result dtype for an input of `dtype`, or nil when the op rejects that dtype.
    ///
    ///     ReductionOperation.all.map { $0.resultType(for: .int32) }   // sum: int64, mean: nil, …
    public func resultType(for dtype: DType) -> DType? {
        switch dtypeRule {
        case .integersToInt64: return dtype.isFloatingPoint ? dtype : .int64
        case .keepsType: return dtype
        case .bool: return .bool
        case .floatingPointOnly: return dtype.isFloatingPoint ? dtype : nil
        case .integersToDefaultFloat: return dtype.isFloatingPoint ? dtype : DType.defaultFloat
        }
    }
}

extension ReductionOperation {
    static let sum = ReductionOperation(name: "sum", accumulation: .kernel(.sum), dtypeRule: .integersToInt64,
                                        derivative: .fromGradient { g, _ in g })
    static let mean = ReductionOperation(name: "mean", messageName: "mean()", accumulation: .mean, dtypeRule: .floatingPointOnly,
                                         derivative: .fromGradient { g, count in g / Double(count) })
    static let prod = ReductionOperation(name: "prod", accumulation: .kernel(.prod), dtypeRule: .integersToInt64,
                                         derivative: .fromInputAndOutput { x, y, g, axes in
        // dy/dx_i is the product of the other elements. With no zero that is y / x_i; with one
        // zero it is non-zero only at the zero; with two or more zeros it is 0.
        let isZero = x .== 0
        let zeroCount = isZero.sum(dims: axes, keepDim: true)
        let safe = Tensor.where(isZero, Tensor(wrapping: 1.0), x)
        let withoutZeros = g * y / safe
        let atTheZero = Tensor.where(isZero, g * safe.prod(dims: axes, keepDim: true), Tensor(wrapping: 0.0))
        return Tensor.where(zeroCount .== 0, withoutZeros, Tensor.where(zeroCount .== 1, atTheZero, Tensor(wrapping: 0.0)))
    })
    static let amax = ReductionOperation(name: "amax", accumulation: .kernel(.max), dtypeRule: .keepsType, hasIdentity: false,
                                         derivative: .fromInputAndOutput(sharedAmongTies))
    static let amin = ReductionOperation(name: "amin", accumulation: .kernel(.min), dtypeRule: .keepsType, hasIdentity: false,
                                         derivative: .fromInputAndOutput(sharedAmongTies))
    /// `all` (the list below has that name).
    static let allTrue = ReductionOperation(name: "all", accumulation: .kernel(.all), dtypeRule: .bool, derivative: nil)
    /// `any`.
    static let anyTrue = ReductionOperation(name: "any", accumulation: .kernel(.any), dtypeRule: .bool, derivative: nil)
    static let logsumexp = ReductionOperation(name: "logsumexp", messageName: "logsumexp()", accumulation: .logSumExp,
                                              dtypeRule: .integersToDefaultFloat,
                                              derivative: .fromInputAndOutput { x, y, g, _ in g * (x - y).exp() })
    /// The Euclidean (p = 2) norm; `norm(p:)` composes the other orders from `abs`, `pow`, `sum` and `amax`.
    static let norm = ReductionOperation(name: "norm", messageName: "norm()", accumulation: .euclideanNorm,
                                         dtypeRule: .floatingPointOnly, derivative: .fromInputAndOutput { x, y, g, _ in
        // x / ||x||, and 0 for the zero vector (where every x is 0 anyway), as in PyTorch.
        g * x / Tensor.where(y .== 0, Tensor(wrapping: 1.0), y)
    })

    /// amax and amin: the gradient is shared equally among the elements equal to the result.
    private static func sharedAmongTies(_ x: Tensor, _ y: Tensor, _ g: Tensor, _ axes: [Int]) -> Tensor {
        let mask = withoutGrad { (x .== y).to(g.dtype) }
        let ties = mask.sum(dims: axes, keepDim: true)
        return g * mask / ties
    }

    /// Every dim-list reduction, in the order the tests report them.
    public static let all: [ReductionOperation] = [sum, mean, prod, amax, amin, allTrue, anyTrue, logsumexp, norm]
}

extension Tensor {
    /// Reduces `dims` with `operation` (all dims when empty): the path every dim-list reduction
    /// method takes. Checks the dtype and the dims, then runs `reduce(_:axes:keepDim:)`.
    func reduce(_ operation: ReductionOperation, dims: [Int], keepDim: Bool) -> Tensor {
        var input = self
        switch operation.dtypeRule {
        case .floatingPointOnly: requireFloatingPoint(operation.messageName)
        case .integersToDefaultFloat where !dtype.isFloatingPoint: input = self.to(DType.defaultFloat)
        default: break
        }
        let axes = input.reductionDims(dims, op: operation.messageName)
        if !operation.hasIdentity { input.checkNonEmpty(axes, op: operation.messageName, allElements: false) }
        return input.reduce(operation, axes: axes, keepDim: keepDim)
    }

    /// Runs `operation` over normalised, sorted `axes` and records its backward rule. Callers
    /// have checked the dtype and dims; `nodeName` replaces the operation's name in the graph
    /// (the all-element `max()` records as "max()").
    func reduce(_ operation: ReductionOperation, axes: [Int], keepDim: Bool, nodeName: String? = nil) -> Tensor {
        Dispatch.apply(self, { _ in .reduce(operation.name, axes: axes, keepDim: keepDim) }, name: nodeName,
                       rule: { _ in operation.derivative == nil ? nil : .reduction(operation, axes: axes, keepDim: keepDim) }) {
            // The intermediates are fresh tensors without history (and the finishing steps run
            // without grad), so only the dispatch records.
            switch operation.accumulation {
            case .kernel(let kernel): return reduced(kernel, axes: axes, keepDim: keepDim)
            case .mean: return withoutGrad { reduced(.sum, axes: axes, keepDim: keepDim) / Double(reducedCount(axes)) }
            case .euclideanNorm: return withoutGrad { reduced(.sumOfSquares, axes: axes, keepDim: keepDim).sqrt() }
            case .logSumExp: return withoutGrad { logSumExp(axes: axes, keepDim: keepDim) }
            }
        }
    }

    /// Stops with PyTorch's message unless the dtype is floating point (mean, var, norm).
    func requireFloatingPoint(_ op: String) {
        emberPrecondition(dtype.isFloatingPoint, "\(op): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: \(dtype) (shape \(shape))")
    }

    /// Number of elements reduced over `axes` into each output element.
    func reducedCount(_ axes: [Int]) -> Int { axes.reduce(1) { $0 * shape[$1] } }

    /// The forward half of logsumexp (float32 or float64 input, nothing recorded). A row of
    /// -inf gives -inf and any +inf gives +inf.
    private func logSumExp(axes: [Int], keepDim: Bool) -> Tensor {
        // Fast path: reduced axes innermost in memory (the usual logits[..., classes] case) go
        // straight to the fused row kernel, one pass with no temporaries.
        let layout = ReductionLayout(self, axes: axes)
        if layout.inner == 1 && (dtype == .float32 || dtype == .float64) {
            let output = Tensor(uninitializedShape: reducedShape(axes, keepDim: keepDim), dtype: dtype)
            if output.count > 0 {
                ReductionKernel.logSumExpRows(dtype, UnsafeRawPointer(layout.source.baseAddress), rows: layout.outer,
                                              n: layout.n, output.baseAddress)
            }
            return output
        }
        let maximum = reduced(.max, axes: axes, keepDim: true)
        // Infinite maxima (all -inf, or a +inf) would give inf - inf; shift by 0 there instead.
        let shift = Tensor.where(maximum.isFinite(), maximum, Tensor(wrapping: 0.0))
        let total = (self - shift).exp().sum(dims: axes, keepDim: true).log() + shift
        return keepDim ? total : total.reshaped(reducedShape(axes, keepDim: false))
    }
}
