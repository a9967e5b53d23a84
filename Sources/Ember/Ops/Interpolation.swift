/// Resampling of the spatial dimensions (`Functional.interpolate`, `Upsample`): nearest and
/// (bi)linear, with PyTorch's source-index rules.
///
/// Both modes are separable, so they are written per dimension with ops that already have
/// backward rules: nearest is `indexSelect` of the source rows; linear is two `indexSelect`s
/// blended with per-row weights. Gradients of every order come from those ops (PyTorch has
/// dedicated `upsample_*_backward` kernels; a fused kernel can replace this when it shows up
/// in profiles, the index rules below stay the same).

/// How `interpolate` computes an output element from the input.
public enum InterpolationMode: Sendable, Equatable {
    /// The input element at ⌊dst · scale⌋ (PyTorch's `'nearest'`).
    case nearest
    /// Linear interpolation along each spatial dimension (`'linear'` for 3-D inputs,
    /// `'bilinear'` for 4-D inputs).
    case bilinear
}

extension Tensor {
    /// Resamples the last `spatial` dimensions of `input` to `outputSize`; `scales` are the
    /// user's scale factors (nil when a size was given), which PyTorch uses as given.
    static func interpolate(_ input: Tensor, size: [Int]?, scaleFactor: [Double]?, mode: InterpolationMode,
                            alignCorners: Bool?, op: String = "interpolate") -> Tensor {
        // Written in gathers and pointwise ops, which a trace records (the indices and weights as constants).
        do {
            emberPrecondition(input.rank >= 3 && input.rank <= 4,
                              "\(op): Input Error: Only 3D and 4D input Tensors supported (got \(input.rank)D) for the modes: nearest | linear | bilinear (got \(mode))")
            emberPrecondition(input.dtype.isFloatingPoint, "\(op): \"upsample\" not implemented for '\(input.dtype)'")
            emberPrecondition((size == nil) != (scaleFactor == nil), "\(op): only one of size or scale_factor should be defined")
            emberPrecondition(mode != .nearest || alignCorners == nil,
                              "\(op): align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | trilinear")
            let spatial = input.rank - 2
            let inputSize = Array(input.shape.suffix(spatial))
            var outputSize: [Int]
            var scales: [Double?]
            if let size {
                emberPrecondition(size.count == 1 || size.count == spatial,
                                  "\(op): Input and output must have the same number of spatial dimensions, but got input with spatial dimensions of \(inputSize) and output size of \(size). Please provide input tensor in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) format.")
                outputSize = size.count == 1 ? [Int](repeating: size[0], count: spatial) : size
                scales = [Double?](repeating: nil, count: spatial)
            } else {
                let factors = scaleFactor!.count == 1 ? [Double](repeating: scaleFactor![0], count: spatial) : scaleFactor!
                emberPrecondition(factors.count == spatial,
                                  "\(op): Input and scale_factor must have the same number of spatial dimensions, but got input with spatial dimensions of \(inputSize) and scale_factor of shape \(scaleFactor!).")
                outputSize = (0..<spatial).map { Int((Double(inputSize[$0]) * factors[$0]).rounded(.down)) }
                scales = factors.map { $0 }
            }
            emberPrecondition(outputSize.allSatisfy { $0 > 0 },
                              "\(op): Input and output sizes should be greater than 0, but got input (\(inputSize)) and output (\(outputSize))")
            var result = input
            for d in 0..<spatial {
                let dim = input.rank - spatial + d
                switch mode {
                case .nearest:
                    let index = nearestIndices(input: inputSize[d], output: outputSize[d], scale: scales[d])
                    result = result.indexSelect(dim: dim, index: index)
                case .bilinear:
                    let (lower, upper, upperWeight) = linearIndices(input: inputSize[d], output: outputSize[d], scale: scales[d],
                                                                    alignCorners: alignCorners ?? false)
                    var weightShape = [Int](repeating: 1, count: input.rank)
                    weightShape[dim] = outputSize[d]
                    let upperWeights = Tensor(shape: weightShape, scalars: upperWeight).to(input.dtype)
                    let lowerWeights = Tensor(shape: weightShape, scalars: upperWeight.map { 1 - $0 }).to(input.dtype)
                    result = result.indexSelect(dim: dim, index: lower) * lowerWeights
                        + result.indexSelect(dim: dim, index: upper) * upperWeights
                }
            }
            return result
        }
    }

    /// PyTorch's `nearest_idx`: min(⌊dst · in / out⌋, in − 1), or ⌊dst / scaleFactor⌋ when a
    /// scale factor was given.
    private static func nearestIndices(input: Int, output: Int, scale: Double?) -> Tensor {
        // In float, as PyTorch's CPU kernel computes it, so ties round the same way.
        let ratio: Float = scale.map { Float(1 / $0) } ?? Float(input) / Float(output)
        let indices = (0..<output).map { dst -> Int64 in
            if output == input { return Int64(dst) }
            if output == 2 * input { return Int64(dst >> 1) }
            return Int64(Swift.min(Int((Float(dst) * ratio).rounded(.down)), input - 1))
        }
        return Tensor(shape: [output], scalars: indices)
    }

    /// PyTorch's `area_pixel_compute_source_index` for linear modes: the two neighbours and the
    /// weight of the upper one for each output position.
    private static func linearIndices(input: Int, output: Int, scale: Double?, alignCorners: Bool) -> (Tensor, Tensor, [Double]) {
        let ratio: Double
        if alignCorners {
            ratio = output > 1 ? Double(input - 1) / Double(output - 1) : 0
        } else {
            ratio = scale.map { 1 / $0 } ?? Double(input) / Double(output)
        }
        var lower = [Int64](), upper = [Int64](), weight = [Double]()
        for dst in 0..<output {
            let source = alignCorners ? ratio * Double(dst) : Swift.max(ratio * (Double(dst) + 0.5) - 0.5, 0)
            let first = Swift.min(Int(source.rounded(.down)), input - 1)
            let second = Swift.min(first + 1, input - 1)
            lower.append(Int64(first)); upper.append(Int64(second))
            weight.append(second == first ? 0 : source - Double(first))
        }
        return (Tensor(shape: [output], scalars: lower), Tensor(shape: [output], scalars: upper), weight)
    }
}
