import CEmberKernels

/// The definition of one elementwise unary operation: its name, kernel, dtype rule and
/// backward rule, in one place. `UnaryOperation.all` is the list the tests iterate.
/// (A final class for the same reason as `BinaryOperation`.)
public final class UnaryOperation: Sendable, CustomStringConvertible {
    /// What the backward rule reads.
    enum Saves { case nothing, input, output, inputAndOutput }

    public let name: String
    let kernel: ember_unary_op
    /// Integer inputs keep their dtype (abs, neg, …); otherwise they compute in the default float.
    let keepsIntegerType: Bool
    let saves: Saves
    /// d(op)/dx applied to the incoming gradient: (x, y, gradOutput, parameters) -> gradInput.
    /// nil marks an op whose gradient is zero everywhere it exists (floor, sign, …).
    let derivative: (@Sendable (_ x: Tensor, _ y: Tensor, _ gradient: Tensor, _ parameters: (Double, Double)) -> Tensor)?

    public var description: String { name }

    /// Whether the op has a derivative (false for the piecewise-constant ones: floor, sign, …).
    ///
    ///     UnaryOperation.all.filter { !$0.isDifferentiable }.map(\.name)   // ["floor", "ceil", …]
    public var isDifferentiable: Bool { derivative != nil }

    init(name: String, kernel: ember_unary_op, keepsIntegerType: Bool, saves: Saves,
         derivative: (@Sendable (Tensor, Tensor, Tensor, (Double, Double)) -> Tensor)?) {
        self.name = name
        self.kernel = kernel
        self.keepsIntegerType = keepsIntegerType
        self.saves = saves
        self.derivative = derivative
    }
}

extension UnaryOperation {
    static let neg = UnaryOperation(name: "neg", kernel: EMBER_NEG, keepsIntegerType: true, saves: .nothing) { _, _, g, _ in -g }
    static let abs = UnaryOperation(name: "abs", kernel: EMBER_ABS, keepsIntegerType: true, saves: .input) { x, _, g, _ in g * x.sign() }
    static let exp = UnaryOperation(name: "exp", kernel: EMBER_EXP, keepsIntegerType: false, saves: .output) { _, y, g, _ in g * y }
    static let exp2 = UnaryOperation(name: "exp2", kernel: EMBER_EXP2, keepsIntegerType: false, saves: .output) { _, y, g, _ in g * y * 0.6931471805599453 }
    static let log = UnaryOperation(name: "log", kernel: EMBER_LOG, keepsIntegerType: false, saves: .input) { x, _, g, _ in g / x }
    static let log2 = UnaryOperation(name: "log2", kernel: EMBER_LOG2, keepsIntegerType: false, saves: .input) { x, _, g, _ in g / (x * 0.6931471805599453) }
    static let log1p = UnaryOperation(name: "log1p", kernel: EMBER_LOG1P, keepsIntegerType: false, saves: .input) { x, _, g, _ in g / (x + 1) }
    static let expm1 = UnaryOperation(name: "expm1", kernel: EMBER_EXPM1, keepsIntegerType: false, saves: .output) { _, y, g, _ in g * (y + 1) }
    static let sqrt = UnaryOperation(name: "sqrt", kernel: EMBER_SQRT, keepsIntegerType: false, saves: .output) { _, y, g, _ in g / (y * 2) }
    static let rsqrt = UnaryOperation(name: "rsqrt", kernel: EMBER_RSQRT, keepsIntegerType: false, saves: .output) { _, y, g, _ in g * y.pow(3) * -0.5 }
    static let reciprocal = UnaryOperation(name: "reciprocal", kernel: EMBER_RECIPROCAL, keepsIntegerType: false, saves: .output) { _, y, g, _ in -g * y * y }
    static let square = UnaryOperation(name: "square", kernel: EMBER_SQUARE, keepsIntegerType: true, saves: .input) { x, _, g, _ in g * x * 2 }
    static let sin = UnaryOperation(name: "sin", kernel: EMBER_SIN, keepsIntegerType: false, saves: .input) { x, _, g, _ in g * x.cos() }
    static let cos = UnaryOperation(name: "cos", kernel: EMBER_COS, keepsIntegerType: false, saves: .input) { x, _, g, _ in -g * x.sin() }
    static let tan = UnaryOperation(name: "tan", kernel: EMBER_TAN, keepsIntegerType: false, saves: .output) { _, y, g, _ in g * (y * y + 1) }
    static let tanh = UnaryOperation(name: "tanh", kernel: EMBER_TANH, keepsIntegerType: false, saves: .output) { _, y, g, _ in g * (1 - y * y) }
    static let sigmoid = UnaryOperation(name: "sigmoid", kernel: EMBER_SIGMOID, keepsIntegerType: false, saves: .output) { _, y, g, _ in g * y * (1 - y) }
    static let relu = UnaryOperation(name: "relu", kernel: EMBER_RELU, keepsIntegerType: true, saves: .output) { _, y, g, _ in
        g * (y .> 0).to(g.dtype)
    }
    static let gelu = UnaryOperation(name: "gelu", kernel: EMBER_GELU, keepsIntegerType: false, saves: .input) { x, _, g, _ in
        // d/dx x·Φ(x) = Φ(x) + x·φ(x)
        let cdf = ((x * 0.7071067811865476).erf() + 1) * 0.5
        let pdf = (x * x * -0.5).exp() * 0.3989422804014327
        return g * (cdf + x * pdf)
    }
    static let geluTanh = UnaryOperation(name: "geluTanh", kernel: EMBER_GELU_TANH, keepsIntegerType: false, saves: .input) { x, _, g, _ in
        let k = 0.7978845608028654, c = 0.044715
        let inner = (x + x * x * x * c) * k
        let t = inner.tanh()
        let dInner = (x * x * (3 * c) + 1) * k
        return g * ((t + 1) * 0.5 + x * 0.5 * (1 - t * t) * dInner)
    }
    static let silu = UnaryOperation(name: "silu", kernel: EMBER_SILU, keepsIntegerType: false, saves: .input) { x, _, g, _ in
        let s = x.sigmoid()
        return g * s * (x * (1 - s) + 1)
    }
    /// Parameters: (beta, threshold).
    static let softplus = UnaryOperation(name: "softplus", kernel: EMBER_SOFTPLUS, keepsIntegerType: false, saves: .input) { x, _, g, p in
        let scaled = x * p.0
        return Tensor.where(scaled .> p.1, g, g * scaled.sigmoid())
    }
    /// Parameter: alpha.
    static let elu = UnaryOperation(name: "elu", kernel: EMBER_ELU, keepsIntegerType: false, saves: .inputAndOutput) { x, y, g, p in
        Tensor.where(x .> 0, g, g * (y + p.0))
    }
    /// Parameter: negative slope.
    static let leakyRelu = UnaryOperation(name: "leakyRelu", kernel: EMBER_LEAKY_RELU, keepsIntegerType: false, saves: .input) { x, _, g, p in
        Tensor.where(x .> 0, g, g * p.0)
    }
    static let erf = UnaryOperation(name: "erf", kernel: EMBER_ERF, keepsIntegerType: false, saves: .input) { x, _, g, _ in
        g * (x * x * -1).exp() * 1.1283791670955126
    }
    static let floor = UnaryOperation(name: "floor", kernel: EMBER_FLOOR, keepsIntegerType: true, saves: .nothing, derivative: nil)
    static let ceil = UnaryOperation(name: "ceil", kernel: EMBER_CEIL, keepsIntegerType: true, saves: .nothing, derivative: nil)
    static let round = UnaryOperation(name: "round", kernel: EMBER_ROUND, keepsIntegerType: true, saves: .nothing, derivative: nil)
    static let trunc = UnaryOperation(name: "trunc", kernel: EMBER_TRUNC, keepsIntegerType: true, saves: .nothing, derivative: nil)
    static let sign = UnaryOperation(name: "sign", kernel: EMBER_SIGN, keepsIntegerType: true, saves: .nothing, derivative: nil)
    /// Parameters: (min, max), ±infinity when absent.
    static let clamp = UnaryOperation(name: "clamp", kernel: EMBER_CLAMP, keepsIntegerType: true, saves: .input) { x, _, g, p in
        g * ((x .>= p.0) & (x .<= p.1)).to(g.dtype)
    }

    /// Every unary operation, in the order the tests report them.
    public static let all: [UnaryOperation] = [
        neg, abs, exp, exp2, log, log2, log1p, expm1, sqrt, rsqrt, reciprocal, square, sin, cos, tan,
        tanh, sigmoid, relu, gelu, geluTanh, silu, softplus, elu, leakyRelu, erf, floor, ceil, round,
        trunc, sign, clamp,
    ]
}

extension Tensor {
    /// Applies a unary operation (the path every unary method takes).
    func apply(_ operation: UnaryOperation, parameters: (Double, Double) = (0, 0)) -> Tensor {
        Dispatch.apply(self, { _ in .unary(operation.name, p0: parameters.0, p1: parameters.1) },
                       rule: { _ in .unary(operation, p0: parameters.0, p1: parameters.1) }) {
            var input = self
            var resultType = dtype.computeType
            if dtype.isIntegral && !operation.keepsIntegerType {
                resultType = DType.defaultFloat
            }
            if dtype == .bool && operation.keepsIntegerType && operation.kernel != EMBER_SIGN && operation.kernel != EMBER_RELU {
                emberFailure("\(operation.name): not implemented for 'Bool' tensors")
            }
            if input.dtype != resultType { input = withoutGrad { input.to(resultType) } }
            input = withoutGrad { input.contiguous() }
            var result = Tensor(uninitializedLike: input, dtype: resultType)
            ElementwiseKernel.unary(operation.kernel, input, into: result, parameters: parameters)
            if dtype == .float16 || dtype == .bfloat16 { result = withoutGrad { result.to(dtype) } }
            return result
        }
    }

    /// Elementwise negation.
    public func neg() -> Tensor { apply(.neg) }
    /// Elementwise absolute value.
    public func abs() -> Tensor { apply(.abs) }
    /// Elementwise e^x.
    public func exp() -> Tensor { apply(.exp) }
    /// Elementwise 2^x.
    public func exp2() -> Tensor { apply(.exp2) }
    /// Elementwise natural logarithm.
    public func log() -> Tensor { apply(.log) }
    /// Elementwise base-2 logarithm.
    public func log2() -> Tensor { apply(.log2) }
    /// Elementwise log(1 + x), accurate near zero.
    public func log1p() -> Tensor { apply(.log1p) }
    /// Elementwise e^x - 1, accurate near zero.
    public func expm1() -> Tensor { apply(.expm1) }
    /// Elementwise square root.
    public func sqrt() -> Tensor { apply(.sqrt) }
    /// Elementwise 1 / sqrt(x).
    public func rsqrt() -> Tensor { apply(.rsqrt) }
    /// Elementwise 1 / x.
    public func reciprocal() -> Tensor { apply(.reciprocal) }
    /// Elementwise x².
    public func square() -> Tensor { apply(.square) }
    /// Elementwise sine.
    public func sin() -> Tensor { apply(.sin) }
    /// Elementwise cosine.
    public func cos() -> Tensor { apply(.cos) }
    /// Elementwise tangent.
    public func tan() -> Tensor { apply(.tan) }
    /// Elementwise hyperbolic tangent.
    public func tanh() -> Tensor { apply(.tanh) }
    /// Elementwise logistic function 1 / (1 + e^-x).
    public func sigmoid() -> Tensor { apply(.sigmoid) }
    /// Elementwise max(x, 0).
    public func relu() -> Tensor { apply(.relu) }
    /// Gaussian error linear unit: exact (`approximate: false`, erf-based) or tanh approximation.
    ///
    ///     x.gelu(approximate: true)
    public func gelu(approximate: Bool = false) -> Tensor { apply(approximate ? .geluTanh : .gelu) }
    /// x · sigmoid(x) (also called swish).
    public func silu() -> Tensor { apply(.silu) }
    /// log(1 + e^(βx)) / β, linear where βx > threshold.
    public func softplus(beta: Double = 1, threshold: Double = 20) -> Tensor { apply(.softplus, parameters: (beta, threshold)) }
    /// x where x > 0, α(e^x - 1) elsewhere.
    public func elu(alpha: Double = 1) -> Tensor { apply(.elu, parameters: (alpha, 0)) }
    /// x where x > 0, slope · x elsewhere.
    public func leakyRelu(negativeSlope: Double = 0.01) -> Tensor { apply(.leakyRelu, parameters: (negativeSlope, 0)) }
    /// Elementwise Gauss error function.
    public func erf() -> Tensor { apply(.erf) }
    /// Largest integer not greater than x.
    public func floor() -> Tensor { apply(.floor) }
    /// Smallest integer not less than x.
    public func ceil() -> Tensor { apply(.ceil) }
    /// Nearest integer, halves to even (as `torch.round`).
    public func round() -> Tensor { apply(.round) }
    /// Integer part, toward zero.
    public func trunc() -> Tensor { apply(.trunc) }
    /// -1, 0 or 1 by the sign of x (NaN stays NaN).
    public func sign() -> Tensor { apply(.sign) }

    /// Limits every element to `[min, max]`; either bound may be omitted.
    ///
    ///     x.clamp(min: 0)            // like relu
    ///     x.clamp(min: -1, max: 1)
    public func clamp(min: Double? = nil, max: Double? = nil) -> Tensor {
        emberPrecondition(min != nil || max != nil, "clamp: at least one of 'min' or 'max' must not be nil")
        return apply(.clamp, parameters: (min ?? -.infinity, max ?? .infinity))
    }
}
