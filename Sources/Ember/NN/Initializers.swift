import Foundation

/// Weight initialisers, like `torch.nn.init`: each fills a tensor in place (without recording
/// autograd history, so it works on parameters that require grad) and returns it. Random ones
/// draw from `generator` (the default generator unless given), in float64, so a seed gives the
/// same values whatever the tensor's dtype.
///
///     let weight = Tensor.empty([64, 32])
///     Initializers.kaimingNormal_(weight, mode: .fanOut, nonlinearity: .relu)
///     Initializers.zeros_(bias)
public enum Initializers {
    /// The nonlinearity that follows a layer, for `calculateGain` and the Kaiming initialisers.
    public enum Nonlinearity: Sendable {
        case linear, conv1d, conv2d, conv3d, sigmoid, tanh, relu, leakyRelu, selu
    }

    /// Which fan the Kaiming initialisers preserve: `fanIn` keeps the forward variance,
    /// `fanOut` the backward one.
    public enum FanMode: Sendable { case fanIn, fanOut }

    /// The recommended gain for a nonlinearity (PyTorch's `calculate_gain`): 1 for linear,
    /// convolution and sigmoid, 5/3 for tanh, √2 for relu, √(2 / (1 + slope²)) for leaky relu
    /// (`parameter` is the slope, default 0.01), 3/4 for selu.
    ///
    ///     Initializers.calculateGain(.leakyRelu, parameter: 0.2)
    public static func calculateGain(_ nonlinearity: Nonlinearity, parameter: Double? = nil) -> Double {
        switch nonlinearity {
        case .linear, .conv1d, .conv2d, .conv3d, .sigmoid: return 1
        case .tanh: return 5.0 / 3
        case .relu: return 2.0.squareRoot()
        case .leakyRelu:
            let slope = parameter ?? 0.01
            return (2 / (1 + slope * slope)).squareRoot()
        case .selu: return 3.0 / 4
        }
    }

    /// Fan-in and fan-out of a weight (PyTorch's `_calculate_fan_in_and_fan_out`): dimension 1
    /// and dimension 0, times the receptive field (the product of the remaining dimensions).
    ///
    ///     Initializers.fans(Tensor.empty([16, 3, 5, 5]))   // (fanIn: 75, fanOut: 400)
    public static func fans(_ tensor: Tensor) -> (fanIn: Int, fanOut: Int) {
        emberPrecondition(tensor.rank >= 2, "Initializers: fan in and fan out can not be computed for tensor with fewer than 2 dimensions (shape \(tensor.shape))")
        let receptiveField = tensor.shape.dropFirst(2).reduce(1, *)
        return (tensor.shape[1] * receptiveField, tensor.shape[0] * receptiveField)
    }

    /// Writes `values` (float64, the tensor's shape) into `tensor` without recording history.
    @discardableResult
    static func fill(_ tensor: Tensor, with values: Tensor) -> Tensor {
        withNoGrad { _ = tensor.copy_(values) }
        return tensor
    }

    /// Uniform values in [low, high).
    ///
    ///     Initializers.uniform_(w, low: -0.1, high: 0.1)
    @discardableResult
    public static func uniform_(_ tensor: Tensor, low: Double = 0, high: Double = 1,
                                generator: RandomGenerator = .default) -> Tensor {
        fill(tensor, with: withNoGrad { Tensor.rand(tensor.shape, dtype: .float64, generator: generator) * (high - low) + low })
    }

    /// Normal values with the given mean and standard deviation.
    ///
    ///     Initializers.normal_(embedding.weight, std: 0.02)
    @discardableResult
    public static func normal_(_ tensor: Tensor, mean: Double = 0, std: Double = 1,
                               generator: RandomGenerator = .default) -> Tensor {
        fill(tensor, with: withNoGrad { Tensor.randn(tensor.shape, dtype: .float64, generator: generator) * std + mean })
    }

    /// Every element `value`.
    @discardableResult
    public static func constant_(_ tensor: Tensor, _ value: Double) -> Tensor {
        withNoGrad { _ = tensor.fill_(value) }
        return tensor
    }

    /// Zeros.
    ///
    ///     Initializers.zeros_(linear.bias!)
    @discardableResult
    public static func zeros_(_ tensor: Tensor) -> Tensor { constant_(tensor, 0) }

    /// Ones.
    @discardableResult
    public static func ones_(_ tensor: Tensor) -> Tensor { constant_(tensor, 1) }

    /// Glorot uniform: U(-a, a) with a = gain · √(6 / (fanIn + fanOut)).
    ///
    ///     Initializers.xavierUniform_(w, gain: Initializers.calculateGain(.tanh))
    @discardableResult
    public static func xavierUniform_(_ tensor: Tensor, gain: Double = 1, generator: RandomGenerator = .default) -> Tensor {
        let (fanIn, fanOut) = fans(tensor)
        let bound = gain * (6 / Double(fanIn + fanOut)).squareRoot()
        return uniform_(tensor, low: -bound, high: bound, generator: generator)
    }

    /// Glorot normal: N(0, std²) with std = gain · √(2 / (fanIn + fanOut)).
    @discardableResult
    public static func xavierNormal_(_ tensor: Tensor, gain: Double = 1, generator: RandomGenerator = .default) -> Tensor {
        let (fanIn, fanOut) = fans(tensor)
        return normal_(tensor, std: gain * (2 / Double(fanIn + fanOut)).squareRoot(), generator: generator)
    }

    /// The standard deviation He initialisation uses: gain / √fan.
    private static func kaimingStd(_ tensor: Tensor, a: Double, mode: FanMode, nonlinearity: Nonlinearity) -> Double {
        let (fanIn, fanOut) = fans(tensor)
        let fan = mode == .fanIn ? fanIn : fanOut
        emberPrecondition(fan > 0, "Initializers: initializing zero-element tensors is a no-op (shape \(tensor.shape))")
        return calculateGain(nonlinearity, parameter: a) / Double(fan).squareRoot()
    }

    /// He uniform: U(-b, b) with b = gain · √(3 / fan). `a` is the leaky-relu slope;
    /// `Linear` uses a = √5, which gives b = 1 / √fanIn.
    ///
    ///     Initializers.kaimingUniform_(w, a: 5.0.squareRoot())
    @discardableResult
    public static func kaimingUniform_(_ tensor: Tensor, a: Double = 0, mode: FanMode = .fanIn,
                                       nonlinearity: Nonlinearity = .leakyRelu,
                                       generator: RandomGenerator = .default) -> Tensor {
        if tensor.count == 0 { return tensor }
        let bound = 3.0.squareRoot() * kaimingStd(tensor, a: a, mode: mode, nonlinearity: nonlinearity)
        return uniform_(tensor, low: -bound, high: bound, generator: generator)
    }

    /// He normal: N(0, std²) with std = gain / √fan.
    ///
    ///     Initializers.kaimingNormal_(conv.weight, mode: .fanOut, nonlinearity: .relu)
    @discardableResult
    public static func kaimingNormal_(_ tensor: Tensor, a: Double = 0, mode: FanMode = .fanIn,
                                      nonlinearity: Nonlinearity = .leakyRelu,
                                      generator: RandomGenerator = .default) -> Tensor {
        if tensor.count == 0 { return tensor }
        return normal_(tensor, std: kaimingStd(tensor, a: a, mode: mode, nonlinearity: nonlinearity), generator: generator)
    }

    /// A (semi-)orthogonal matrix times `gain`, viewed as [size(0), rest]: the Q of a QR
    /// factorisation of a standard normal matrix, with signs fixed so that R has a positive
    /// diagonal (which makes Q uniformly distributed), as PyTorch's `orthogonal_`.
    ///
    ///     Initializers.orthogonal_(recurrentWeight)
    ///
    /// The QR is modified Gram–Schmidt in Swift doubles: weights are small enough that a
    /// Householder QR kernel would not pay for itself here.
    @discardableResult
    public static func orthogonal_(_ tensor: Tensor, gain: Double = 1, generator: RandomGenerator = .default) -> Tensor {
        emberPrecondition(tensor.rank >= 2, "Initializers.orthogonal_: only tensors with 2 or more dimensions are supported (shape \(tensor.shape))")
        if tensor.count == 0 { return tensor }
        let rows = tensor.shape[0], columns = tensor.count / rows
        // Factor the tall orientation: columns of `a` (m × n, m >= n) are orthonormalised.
        let m = Swift.max(rows, columns), n = Swift.min(rows, columns)
        let normal = Tensor.randn([rows, columns], dtype: .float64, generator: generator).scalars(as: Double.self)
        // a[column][row] in the tall orientation.
        var a = [[Double]](repeating: [Double](repeating: 0, count: m), count: n)
        for r in 0..<rows {
            for c in 0..<columns {
                if rows >= columns { a[c][r] = normal[r * columns + c] } else { a[r][c] = normal[r * columns + c] }
            }
        }
        for j in 0..<n {
            for k in 0..<j {
                var dot = 0.0
                for i in 0..<m { dot += a[k][i] * a[j][i] }
                for i in 0..<m { a[j][i] -= dot * a[k][i] }
            }
            var norm = 0.0
            for i in 0..<m { norm += a[j][i] * a[j][i] }
            norm = norm.squareRoot()
            // R's diagonal entry is `norm` > 0, so no sign fix is needed beyond normalising.
            for i in 0..<m { a[j][i] /= norm }
        }
        var values = [Double](repeating: 0, count: rows * columns)
        for r in 0..<rows {
            for c in 0..<columns {
                values[r * columns + c] = gain * (rows >= columns ? a[c][r] : a[r][c])
            }
        }
        return fill(tensor, with: Tensor(shape: tensor.shape, scalars: values))
    }
}
