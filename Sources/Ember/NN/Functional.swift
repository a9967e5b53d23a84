/// Stateless forms of the layers, like `torch.nn.functional`: the layers hold parameters and
/// call these. Everything is composed from Tensor ops, so gradients (of any order) come from
/// the ops' own backward rules.
///
///     typealias F = Functional
///     let hidden = F.relu(F.linear(x, weight: w1, bias: b1))
///     let probabilities = F.softmax(F.linear(hidden, weight: w2), dim: -1)
public enum Functional {}

/// How `gelu` evaluates the Gaussian CDF: exactly with erf (PyTorch's `approximate='none'`)
/// or with the tanh approximation (`approximate='tanh'`).
public enum GELUApproximation: Sendable {
    case exact, tanh
}

// MARK: - Linear maps

extension Functional {
    /// `input · weightᵀ + bias`, with `weight` shaped [out, in] as in PyTorch; `input` is
    /// [*, in] and the result [*, out].
    ///
    ///     F.linear(Tensor.randn([8, 3]), weight: Tensor.randn([2, 3]), bias: Tensor.zeros([2]))   // [8, 2]
    public static func linear(_ input: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
        emberPrecondition(weight.rank == 2 || weight.rank == 1, "linear: weight must be 1-D or 2-D, got shape \(weight.shape)")
        emberPrecondition(input.rank >= 1 && input.shape.last == weight.shape.last,
                          "linear: mat1 and mat2 shapes cannot be multiplied (input shape \(input.shape), weight shape \(weight.shape))")
        let product = input.matmul(weight.rank == 2 ? weight.t : weight)
        guard let bias else { return product }
        return product + bias
    }

    /// `y[*, o] = Σᵢⱼ input1[*, i] · weight[o, i, j] · input2[*, j] + bias[o]`.
    ///
    ///     F.bilinear(Tensor.randn([4, 3]), Tensor.randn([4, 5]), weight: Tensor.randn([2, 3, 5]))   // [4, 2]
    public static func bilinear(_ input1: Tensor, _ input2: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
        emberPrecondition(weight.rank == 3, "bilinear: weight must be 3-D [out, in1, in2], got shape \(weight.shape)")
        let (outFeatures, in1, in2) = (weight.shape[0], weight.shape[1], weight.shape[2])
        emberPrecondition(input1.rank >= 1 && input1.shape.last == in1 && input2.shape.last == in2
                          && Array(input1.shape.dropLast()) == Array(input2.shape.dropLast()),
                          "bilinear: input shapes \(input1.shape) and \(input2.shape) do not match weight shape \(weight.shape)")
        let batchShape = Array(input1.shape.dropLast())
        let x1 = input1.reshaped([-1, in1]), x2 = input2.reshaped([-1, in2])
        // One matmul for x1 · W (all outputs at once), then a product with x2 summed over j.
        let mixed = x1.matmul(weight.permuted(1, 0, 2).reshaped([in1, outFeatures * in2]))
        var result = (mixed.reshaped([-1, outFeatures, in2]) * x2.unsqueezed(1)).sum(dim: -1)
        if let bias { result = result + bias }
        return result.reshaped(batchShape + [outFeatures])
    }
}

// MARK: - Activations

extension Functional {
    /// max(x, 0).
    public static func relu(_ input: Tensor) -> Tensor { input.relu() }

    /// x · Φ(x), exactly or with the tanh approximation.
    ///
    ///     F.gelu(x, approximate: .tanh)
    public static func gelu(_ input: Tensor, approximate: GELUApproximation = .exact) -> Tensor {
        input.gelu(approximate: approximate == .tanh)
    }

    /// x · sigmoid(x) (swish).
    public static func silu(_ input: Tensor) -> Tensor { input.silu() }

    /// Hyperbolic tangent.
    public static func tanh(_ input: Tensor) -> Tensor { input.tanh() }

    /// 1 / (1 + e⁻ˣ).
    public static func sigmoid(_ input: Tensor) -> Tensor { input.sigmoid() }

    /// eˣ normalised to sum to 1 along `dim`.
    ///
    ///     F.softmax(logits, dim: -1)
    public static func softmax(_ input: Tensor, dim: Int) -> Tensor { input.softmax(dim: dim) }

    /// log(softmax(x)) along `dim`, computed stably.
    public static func logSoftmax(_ input: Tensor, dim: Int) -> Tensor { input.logSoftmax(dim: dim) }

    /// x for x ≥ 0, negativeSlope · x otherwise.
    public static func leakyRelu(_ input: Tensor, negativeSlope: Double = 0.01) -> Tensor {
        input.leakyRelu(negativeSlope: negativeSlope)
    }

    /// x for x > 0, alpha · (eˣ − 1) otherwise.
    public static func elu(_ input: Tensor, alpha: Double = 1) -> Tensor { input.elu(alpha: alpha) }
}

// MARK: - Dropout and embedding

extension Functional {
    /// In training, zeroes each element with probability `p` and scales the rest by 1 / (1 − p),
    /// so the expected value is unchanged; otherwise returns `input`. The mask comes from
    /// `generator` (the default one unless given), so `manualSeed` makes it reproducible.
    ///
    ///     F.dropout(x, p: 0.1, training: model.isTraining)
    public static func dropout(_ input: Tensor, p: Double = 0.5, training: Bool = true,
                               generator: RandomGenerator = .default) -> Tensor {
        emberPrecondition(p >= 0 && p <= 1, "dropout: dropout probability has to be between 0 and 1, but got \(p)")
        guard training && p > 0 else { return input }
        if p == 1 { return input * 0.0 }
        let keep = withNoGrad { Tensor.bernoulli(input.shape, p: 1 - p, dtype: input.dtype, generator: generator) / (1 - p) }
        return input * keep
    }

    /// Rows of `weight` ([numEmbeddings, dim]) picked by the integer tensor `indices`; the
    /// result has shape `indices.shape + [dim]`. Positions equal to `paddingIndex` pass no
    /// gradient to their row.
    ///
    ///     F.embedding(Tensor([[1, 2], [0, 1]] as [[Int]]), weight: table)   // [2, 2, dim]
    public static func embedding(_ indices: Tensor, weight: Tensor, paddingIndex: Int? = nil) -> Tensor {
        emberPrecondition(!indices.dtype.isFloatingPoint && indices.dtype != .bool,
                          "embedding: expected indices of an integer dtype, but got \(indices.dtype)")
        emberPrecondition(weight.rank == 2, "embedding: weight must be 2-D [numEmbeddings, dim], got shape \(weight.shape)")
        let flat = indices.reshaped([-1])
        var rows = weight.indexSelect(dim: 0, index: flat)
        if let paddingIndex, rows.requiresGrad {
            let index = paddingIndex < 0 ? paddingIndex + weight.shape[0] : paddingIndex
            // Same values, but padding positions read a detached copy: no gradient reaches that row.
            let isPadding = (flat .== index).unsqueezed(1)
            rows = Tensor.where(isPadding, rows.detach(), rows)
        }
        return rows.reshaped(indices.shape + [weight.shape[1]])
    }
}
