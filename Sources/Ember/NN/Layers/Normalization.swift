// Normalisation layers: `LayerNorm`, `GroupNorm`, `BatchNorm1d`, `BatchNorm2d`.

/// Normalises over the trailing `normalizedShape` dimensions, then scales and shifts
/// (`weight` starts at ones, `bias` at zeros), like `torch.nn.LayerNorm`.
///
///     let norm = LayerNorm(normalizedShape: [512])
///     norm(Tensor.randn([8, 16, 512])).shape   // [8, 16, 512]
public final class LayerNorm: Module, Layer {
    /// Per-element (LayerNorm) or per-channel scale; nil without affine parameters.
    @Parameter public var weight: Tensor?
    /// Per-element (LayerNorm) or per-channel shift; nil without affine parameters.
    @Parameter public var bias: Tensor?
    /// The trailing shape normalised over.
    public let normalizedShape: [Int]
    /// Added to the variance for stability.
    public let eps: Double

    /// A layer normalising the trailing dimensions `normalizedShape`.
    public init(normalizedShape: [Int], eps: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true,
                dtype: DType = .float32) {
        self.normalizedShape = normalizedShape
        self.eps = eps
        self.weight = elementwiseAffine ? Tensor.ones(normalizedShape, dtype: dtype) : nil
        self.bias = elementwiseAffine && bias ? Tensor.zeros(normalizedShape, dtype: dtype) : nil
        super.init()
    }

    /// Normalises `input` (see the type's description).
    public func callAsFunction(_ input: Tensor) -> Tensor {
        Functional.layerNorm(input, normalizedShape: normalizedShape, weight: weight, bias: bias, eps: eps)
    }

    public override var extraDescription: String {
        "\(normalizedShape), eps=\(eps), elementwise_affine=\(weight != nil)"
    }
}

/// Normalises groups of channels of [N, C, *] per sample, then applies per-channel
/// `weight` (ones) and `bias` (zeros), like `torch.nn.GroupNorm`.
///
///     GroupNorm(numGroups: 8, numChannels: 64)(Tensor.randn([2, 64, 7, 7]))
public final class GroupNorm: Module, Layer {
    /// Per-element (LayerNorm) or per-channel scale; nil without affine parameters.
    @Parameter public var weight: Tensor?
    /// Per-element (LayerNorm) or per-channel shift; nil without affine parameters.
    @Parameter public var bias: Tensor?
    /// Number of channel groups, and of channels.
    public let numGroups: Int, numChannels: Int
    /// Added to the variance for stability.
    public let eps: Double

    /// `numChannels` channels in `numGroups` groups (which must divide it).
    public init(numGroups: Int, numChannels: Int, eps: Double = 1e-5, affine: Bool = true, dtype: DType = .float32) {
        emberPrecondition(numGroups > 0 && numChannels % numGroups == 0,
                          "GroupNorm: num_channels (\(numChannels)) must be divisible by num_groups (\(numGroups))")
        self.numGroups = numGroups
        self.numChannels = numChannels
        self.eps = eps
        self.weight = affine ? Tensor.ones([numChannels], dtype: dtype) : nil
        self.bias = affine ? Tensor.zeros([numChannels], dtype: dtype) : nil
        super.init()
    }

    /// Normalises `input` (see the type's description).
    public func callAsFunction(_ input: Tensor) -> Tensor {
        emberPrecondition(input.rank >= 2 && input.shape[1] == numChannels,
                          "GroupNorm: expected input with \(numChannels) channels in dimension 1, got shape \(input.shape)")
        return Functional.groupNorm(input, numGroups: numGroups, weight: weight, bias: bias, eps: eps)
    }

    public override var extraDescription: String {
        "\(numGroups), \(numChannels), eps=\(eps), affine=\(weight != nil)"
    }
}

/// Batch normalisation over the channel dimension 1, like PyTorch's `_BatchNorm`: use
/// `BatchNorm1d` or `BatchNorm2d`, which check the input rank.
///
/// In training mode it normalises with the batch statistics and updates `running_mean` and
/// `running_var` (unbiased) with `momentum`, or with a cumulative average when `momentum` is
/// nil; `num_batches_tracked` counts the updates. In evaluation mode it uses the running
/// statistics. With `trackRunningStats: false` there are no buffers and batch statistics are
/// always used.
public class BatchNorm: Module, Layer {
    /// Per-element (LayerNorm) or per-channel scale; nil without affine parameters.
    @Parameter public var weight: Tensor?
    /// Per-element (LayerNorm) or per-channel shift; nil without affine parameters.
    @Parameter public var bias: Tensor?
    /// Running mean per channel (`running_mean`); nil without running statistics.
    @Buffer public var runningMean: Tensor?
    /// Running unbiased variance per channel (`running_var`); nil without running statistics.
    @Buffer public var runningVar: Tensor?
    /// Number of training batches seen, int64 (`num_batches_tracked`).
    @Buffer public var numBatchesTracked: Tensor?
    /// Number of channels.
    public let numFeatures: Int
    /// Added to the variance for stability.
    public let eps: Double
    /// The weight of the new batch in the running averages; nil for a cumulative average.
    public let momentum: Double?

    /// A layer for `numFeatures` channels.
    ///
    ///     BatchNorm2d(64, momentum: nil)   // cumulative moving average
    public init(_ numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = true,
                trackRunningStats: Bool = true, dtype: DType = .float32) {
        self.numFeatures = numFeatures
        self.eps = eps
        self.momentum = momentum
        self.weight = affine ? Tensor.ones([numFeatures], dtype: dtype) : nil
        self.bias = affine ? Tensor.zeros([numFeatures], dtype: dtype) : nil
        self.runningMean = trackRunningStats ? Tensor.zeros([numFeatures], dtype: dtype) : nil
        self.runningVar = trackRunningStats ? Tensor.ones([numFeatures], dtype: dtype) : nil
        self.numBatchesTracked = trackRunningStats ? Tensor.zeros([], dtype: .int64) : nil
        super.init()
    }

    /// Checks the input's rank (overridden by the 1d and 2d variants).
    func checkInput(_ input: Tensor) {}

    /// Zeroes the running mean, sets the running variance to one and the count to zero.
    public func resetRunningStats() {
        withNoGrad {
            runningMean?.zero_()
            runningVar?.fill_(1.0)
            numBatchesTracked?.zero_()
        }
    }

    /// Normalises `input` (see the type's description).
    public func callAsFunction(_ input: Tensor) -> Tensor {
        checkInput(input)
        emberPrecondition(input.shape[1] == numFeatures,
                          "\(type(of: self)): expected \(numFeatures) channels in dimension 1, got input of shape \(input.shape)")
        var factor = 0.0
        if isTraining, let count = numBatchesTracked {
            withNoGrad { count += 1 }
            factor = momentum ?? 1 / Double(count.item(as: Int.self))
        }
        let useBatchStatistics = isTraining || runningMean == nil
        // In evaluation mode without running statistics PyTorch also uses the batch's.
        return Functional.batchNorm(input, runningMean: isTraining ? runningMean : (useBatchStatistics ? nil : runningMean),
                                    runningVar: isTraining ? runningVar : (useBatchStatistics ? nil : runningVar),
                                    weight: weight, bias: bias, training: useBatchStatistics, momentum: factor, eps: eps)
    }

    public override var extraDescription: String {
        "\(numFeatures), eps=\(eps), momentum=\(momentum.map { "\($0)" } ?? "None"), affine=\(weight != nil), track_running_stats=\(runningMean != nil)"
    }
}

/// Batch normalisation of [N, C] or [N, C, L].
///
///     BatchNorm1d(16)(Tensor.randn([8, 16]))
public final class BatchNorm1d: BatchNorm {
    override func checkInput(_ input: Tensor) {
        emberPrecondition(input.rank == 2 || input.rank == 3, "BatchNorm1d: expected 2D or 3D input (got \(input.rank)D input)")
    }
}

/// Batch normalisation of [N, C, H, W].
///
///     BatchNorm2d(3)(Tensor.randn([4, 3, 8, 8]))
public final class BatchNorm2d: BatchNorm {
    override func checkInput(_ input: Tensor) {
        emberPrecondition(input.rank == 4, "BatchNorm2d: expected 4D input (got \(input.rank)D input)")
    }
}
