// Affine layers and shape helpers: `Linear`, `Bilinear`, `Identity`, `Flatten`.

/// `y = x · weightᵀ + bias`, like `torch.nn.Linear`: `weight` is [outFeatures, inFeatures],
/// initialised Kaiming-uniform with a = √5 (values in ±1/√inFeatures), and `bias`
/// uniform in ±1/√inFeatures.
///
///     let layer = Linear(3, 2)
///     layer(Tensor.randn([5, 3])).shape   // [5, 2]
///     layer.stateDict().keys              // ["weight", "bias"]
public final class Linear: Module, Layer {
    /// [outFeatures, inFeatures].
    @Parameter public var weight: Tensor
    /// [outFeatures], or nil when built with `bias: false`.
    @Parameter public var bias: Tensor?
    /// Size of each input sample.
    public let inFeatures: Int
    /// Size of each output sample.
    public let outFeatures: Int

    /// A layer from `inFeatures` to `outFeatures` with PyTorch's default initialisation.
    ///
    ///     Linear(128, 10, bias: false, dtype: .float64)
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, dtype: DType = .float32) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.weight = Tensor.zeros([outFeatures, inFeatures], dtype: dtype)
        self.bias = bias ? Tensor.zeros([outFeatures], dtype: dtype) : nil
        super.init()
        resetParameters()
    }

    /// Draws new weights and bias as at construction.
    public func resetParameters() {
        Initializers.kaimingUniform_(weight, a: 5.0.squareRoot())
        if let bias {
            let bound = inFeatures > 0 ? 1 / Double(inFeatures).squareRoot() : 0
            Initializers.uniform_(bias, low: -bound, high: bound)
        }
    }

    /// Maps [*, inFeatures] to [*, outFeatures].
    public func callAsFunction(_ input: Tensor) -> Tensor {
        Functional.linear(input, weight: weight, bias: bias)
    }

    public override var extraDescription: String {
        "in_features=\(inFeatures), out_features=\(outFeatures), bias=\(bias != nil)"
    }
}

/// `y[o] = x1ᵀ · weight[o] · x2 + bias[o]`, like `torch.nn.Bilinear`: `weight` is
/// [outFeatures, in1Features, in2Features], initialised uniform in ±1/√in1Features, as is `bias`.
///
///     let layer = Bilinear(3, 4, 2)
///     layer(Tensor.randn([5, 3]), Tensor.randn([5, 4])).shape   // [5, 2]
public final class Bilinear: Module {
    /// [outFeatures, in1Features, in2Features].
    @Parameter public var weight: Tensor
    /// [outFeatures], or nil when built with `bias: false`.
    @Parameter public var bias: Tensor?
    /// Sizes of the two inputs and of the output.
    public let in1Features: Int, in2Features: Int, outFeatures: Int

    /// A layer mixing inputs of `in1Features` and `in2Features` into `outFeatures`.
    public init(_ in1Features: Int, _ in2Features: Int, _ outFeatures: Int, bias: Bool = true, dtype: DType = .float32) {
        self.in1Features = in1Features
        self.in2Features = in2Features
        self.outFeatures = outFeatures
        self.weight = Tensor.zeros([outFeatures, in1Features, in2Features], dtype: dtype)
        self.bias = bias ? Tensor.zeros([outFeatures], dtype: dtype) : nil
        super.init()
        resetParameters()
    }

    /// Draws new weights and bias as at construction.
    public func resetParameters() {
        let bound = 1 / Double(Swift.max(in1Features, 1)).squareRoot()
        Initializers.uniform_(weight, low: -bound, high: bound)
        if let bias { Initializers.uniform_(bias, low: -bound, high: bound) }
    }

    /// Applies the layer to a pair of inputs with equal batch shapes.
    public func callAsFunction(_ input1: Tensor, _ input2: Tensor) -> Tensor {
        Functional.bilinear(input1, input2, weight: weight, bias: bias)
    }

    public override var extraDescription: String {
        "in1_features=\(in1Features), in2_features=\(in2Features), out_features=\(outFeatures), bias=\(bias != nil)"
    }
}

/// Returns its input: a placeholder layer (for example where a block has no downsampling).
///
///     let shortcut: any Layer = needsProjection ? Linear(4, 8) : Identity()
public final class Identity: Module, Layer {
    /// The identity layer.
    public override init() { super.init() }
    /// Returns `input` itself.
    public func callAsFunction(_ input: Tensor) -> Tensor { input }
}

/// Flattens dimensions `startDim...endDim` into one, like `torch.nn.Flatten` (whose defaults
/// keep the batch dimension).
///
///     Flatten()(Tensor.zeros([8, 3, 4, 4])).shape   // [8, 48]
public final class Flatten: Module, Layer {
    /// First and last dimension flattened (inclusive).
    public let startDim: Int, endDim: Int

    /// Flattens `startDim...endDim` (negative counts from the end).
    public init(startDim: Int = 1, endDim: Int = -1) {
        self.startDim = startDim
        self.endDim = endDim
        super.init()
    }

    /// The input with dimensions `startDim...endDim` merged.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        input.flattened(startDim: startDim, endDim: endDim)
    }

    public override var extraDescription: String { "start_dim=\(startDim), end_dim=\(endDim)" }
}
