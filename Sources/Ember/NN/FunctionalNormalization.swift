/// Normalisation in functional form: layerNorm, groupNorm, batchNorm. Each is written in
/// Tensor ops (mean, population variance, rsqrt), so backward of any order comes from those
/// ops. A fused kernel with a hand-written backward would save passes over the input; it is
/// left for when profiles show normalisation matters.
extension Functional {
    /// `(x − mean) / √(var + eps)` over the trailing dimensions `normalizedShape`, then
    /// `· weight + bias` (both shaped `normalizedShape`) when given.
    ///
    ///     F.layerNorm(x, normalizedShape: [x.shape.last!], weight: gamma, bias: beta)
    public static func layerNorm(_ input: Tensor, normalizedShape: [Int], weight: Tensor? = nil, bias: Tensor? = nil,
                                 eps: Double = 1e-5) -> Tensor {
        let k = normalizedShape.count
        emberPrecondition(k >= 1 && input.rank >= k && Array(input.shape.suffix(k)) == normalizedShape,
                          "layerNorm: expected input with shape [*, \(normalizedShape.map(String.init).joined(separator: ", "))], but got input of size \(input.shape)")
        // Traced for inference as one primitive with its own kernel; with gradients to record,
        // as the ops of the composition (whose rules give the backward graph).
        let operands = [input] + [weight, bias].compactMap { $0 }
        guard !GraphRecorder.shouldRecord(operands) else { return layerNormComposition(input, rank: k, weight: weight, bias: bias, eps: eps) }
        // With nothing to record, the fused kernel (one pass over each row in cache), eagerly
        // as in compiled code.
        let fused = {
            LayerNormKernel.run(input, normalizedRank: k, weight: weight, bias: bias, eps: eps, into: nil)
                ?? layerNormComposition(input, rank: k, weight: weight, bias: bias, eps: eps)
        }
        if Tracing.isActive && Tracing.recordingContext != nil {
            let primitive = Primitive.layerNorm(normalizedRank: k, eps: eps, hasWeight: weight != nil, hasBias: bias != nil)
            return Dispatch.apply(operands, { _ in primitive }, fused)
        }
        return fused()
    }

    /// Layer norm written in Tensor ops (mean, population variance, rsqrt).
    static func layerNormComposition(_ input: Tensor, rank k: Int, weight: Tensor?, bias: Tensor?, eps: Double) -> Tensor {
        let axes = Array((input.rank - k)..<input.rank)
        let mean = input.mean(dims: axes, keepDim: true)
        let centered = input - mean
        let variance = (centered * centered).mean(dims: axes, keepDim: true)
        var result = centered * (variance + eps).rsqrt()
        if let weight { result = result * weight }
        if let bias { result = result + bias }
        return result
    }

    /// Splits the channels (dimension 1 of [N, C, *]) into `numGroups` groups, normalises each
    /// group of each sample, then applies per-channel `weight` and `bias` ([C]).
    ///
    ///     F.groupNorm(x, numGroups: 2, weight: gamma, bias: beta)
    public static func groupNorm(_ input: Tensor, numGroups: Int, weight: Tensor? = nil, bias: Tensor? = nil,
                                 eps: Double = 1e-5) -> Tensor {
        emberPrecondition(input.rank >= 2, "groupNorm: expected at least 2 dimensions for input tensor but received \(input.rank)")
        let batch = input.shape[0], channels = input.shape[1]
        emberPrecondition(numGroups > 0 && channels % numGroups == 0,
                          "groupNorm: expected number of channels in input to be divisible by num_groups, but got input of shape \(input.shape) and num_groups=\(numGroups)")
        let grouped = input.reshaped([batch, numGroups, -1])
        let mean = grouped.mean(dims: [2], keepDim: true)
        let centered = grouped - mean
        let variance = (centered * centered).mean(dims: [2], keepDim: true)
        var result = (centered * (variance + eps).rsqrt()).reshaped(input.shape)
        let channelShape = [1, channels] + [Int](repeating: 1, count: input.rank - 2)
        if let weight { result = result * weight.reshaped(channelShape) }
        if let bias { result = result + bias.reshaped(channelShape) }
        return result
    }

    /// Batch normalisation of [N, C, *] per channel. With `training`, normalises with the
    /// batch's mean and population variance and, when running statistics are given, moves
    /// them towards the batch's (`running = (1 − momentum) · running + momentum · batch`, with
    /// the unbiased variance, as PyTorch); otherwise normalises with the running statistics.
    ///
    ///     F.batchNorm(x, runningMean: mean, runningVar: variance, training: true, momentum: 0.1)
    public static func batchNorm(_ input: Tensor, runningMean: Tensor?, runningVar: Tensor?,
                                 weight: Tensor? = nil, bias: Tensor? = nil, training: Bool = false,
                                 momentum: Double = 0.1, eps: Double = 1e-5) -> Tensor {
        emberPrecondition(input.rank >= 2, "batchNorm: expected at least 2 dimensions for input tensor but received \(input.rank) (shape \(input.shape))")
        let channels = input.shape[1]
        let axes = [0] + Array(2..<input.rank)
        let channelShape = [1, channels] + [Int](repeating: 1, count: input.rank - 2)
        let mean: Tensor, variance: Tensor
        if training {
            let perChannel = input.count / Swift.max(channels, 1)
            emberPrecondition(perChannel > 1, "batchNorm: expected more than 1 value per channel when training, got input size \(input.shape)")
            mean = input.mean(dims: axes, keepDim: true)
            let centered = input - mean
            variance = (centered * centered).mean(dims: axes, keepDim: true)
            withNoGrad {
                if let runningMean {
                    runningMean.copy_(runningMean * (1 - momentum) + mean.reshaped([channels]) * momentum)
                }
                if let runningVar {
                    let unbiased = variance.reshaped([channels]) * (Double(perChannel) / Double(perChannel - 1))
                    runningVar.copy_(runningVar * (1 - momentum) + unbiased * momentum)
                }
            }
            var result = centered * (variance + eps).rsqrt()
            if let weight { result = result * weight.reshaped(channelShape) }
            if let bias { result = result + bias.reshaped(channelShape) }
            return result
        }
        guard let runningMean, let runningVar else {
            emberFailure("batchNorm: running_mean and running_var must be given when training is false")
        }
        mean = runningMean.reshaped(channelShape)
        variance = runningVar.reshaped(channelShape)
        var result = (input - mean) * (variance + eps).rsqrt()
        if let weight { result = result * weight.reshaped(channelShape) }
        if let bias { result = result + bias.reshaped(channelShape) }
        return result
    }
}
