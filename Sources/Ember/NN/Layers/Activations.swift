// Activation layers: each wraps the `Functional` form so it can sit in a `Sequential`.
//
//     Sequential { Linear(4, 8); GELU(approximate: .tanh); Linear(8, 1); Sigmoid() }

/// max(x, 0).
///
///     ReLU()(Tensor([-1, 2] as [Float]))   // [0, 2]
public final class ReLU: Module, Layer {
    /// The activation layer.
    public override init() { super.init() }
    /// Applies the activation elementwise.
    public func callAsFunction(_ input: Tensor) -> Tensor { Functional.relu(input) }
}

/// x · Φ(x), with the exact erf form or the tanh approximation.
///
///     GELU(approximate: .tanh)
public final class GELU: Module, Layer {
    /// Exact (erf) or tanh-approximated.
    public let approximate: GELUApproximation
    /// A GELU layer.
    public init(approximate: GELUApproximation = .exact) {
        self.approximate = approximate
        super.init()
    }
    /// Applies the activation elementwise.
    public func callAsFunction(_ input: Tensor) -> Tensor { Functional.gelu(input, approximate: approximate) }
    public override var extraDescription: String { "approximate='\(approximate == .tanh ? "tanh" : "none")'" }
}

/// x · sigmoid(x).
///
///     SiLU()(x)
public final class SiLU: Module, Layer {
    /// The activation layer.
    public override init() { super.init() }
    /// Applies the activation elementwise.
    public func callAsFunction(_ input: Tensor) -> Tensor { Functional.silu(input) }
}

/// Hyperbolic tangent.
///
///     Tanh()(x)
public final class Tanh: Module, Layer {
    /// The activation layer.
    public override init() { super.init() }
    /// Applies the activation elementwise.
    public func callAsFunction(_ input: Tensor) -> Tensor { Functional.tanh(input) }
}

/// 1 / (1 + e⁻ˣ).
///
///     Sigmoid()(logits)
public final class Sigmoid: Module, Layer {
    /// The activation layer.
    public override init() { super.init() }
    /// Applies the activation elementwise.
    public func callAsFunction(_ input: Tensor) -> Tensor { Functional.sigmoid(input) }
}

/// Softmax along `dim`.
///
///     Softmax(dim: -1)(logits)
public final class Softmax: Module, Layer {
    /// The dimension normalised over.
    public let dim: Int
    /// A layer normalising along `dim`.
    public init(dim: Int) {
        self.dim = dim
        super.init()
    }
    /// Normalises `input` along `dim`.
    public func callAsFunction(_ input: Tensor) -> Tensor { Functional.softmax(input, dim: dim) }
    public override var extraDescription: String { "dim=\(dim)" }
}

/// Log-softmax along `dim`.
///
///     LogSoftmax(dim: 1)(logits)
public final class LogSoftmax: Module, Layer {
    /// The dimension normalised over.
    public let dim: Int
    /// A layer normalising along `dim`.
    public init(dim: Int) {
        self.dim = dim
        super.init()
    }
    /// Normalises `input` along `dim`.
    public func callAsFunction(_ input: Tensor) -> Tensor { Functional.logSoftmax(input, dim: dim) }
    public override var extraDescription: String { "dim=\(dim)" }
}

/// x for x ≥ 0, negativeSlope · x otherwise.
///
///     LeakyReLU(negativeSlope: 0.2)
public final class LeakyReLU: Module, Layer {
    /// Slope for negative inputs.
    public let negativeSlope: Double
    /// A leaky ReLU layer.
    public init(negativeSlope: Double = 0.01) {
        self.negativeSlope = negativeSlope
        super.init()
    }
    /// Applies the activation elementwise.
    public func callAsFunction(_ input: Tensor) -> Tensor { Functional.leakyRelu(input, negativeSlope: negativeSlope) }
    public override var extraDescription: String { "negative_slope=\(negativeSlope)" }
}

/// x for x > 0, alpha · (eˣ − 1) otherwise.
///
///     ELU(alpha: 1.0)
public final class ELU: Module, Layer {
    /// Scale of the negative branch.
    public let alpha: Double
    /// An ELU layer.
    public init(alpha: Double = 1) {
        self.alpha = alpha
        super.init()
    }
    /// Applies the activation elementwise.
    public func callAsFunction(_ input: Tensor) -> Tensor { Functional.elu(input, alpha: alpha) }
    public override var extraDescription: String { "alpha=\(alpha)" }
}
