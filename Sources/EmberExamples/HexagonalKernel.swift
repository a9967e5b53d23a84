import Ember

/// The hexagonal convolution's own kernels: plain Swift loops over raw buffers, no Ember ops.
///
/// How a kernel reaches a tensor's memory through the public API: make the operand contiguous
/// in the compute dtype (`to(_:)`, `contiguous()`: no-ops when it already is), then read
/// `storage.pointer` from `storageOffset`. Results are written into a fresh `Tensor.zeros`,
/// which nothing else views yet, so writing its storage directly is safe and needs no version
/// bump (version counters only matter for tensors already saved by autograd).
///
/// One dtype switch per call picks a specialisation: float64 computes in Double, every other
/// floating dtype in Float (float16/bfloat16 are converted, as Ember's own ops do), and the
/// result is converted back to the promoted dtype. Single-threaded: this is an example; a
/// production kernel would split the batch across threads.
enum HexagonalKernel {
    /// `output[n, o, r, q] = Σ_c Σ_k weight[o, c, k] · input[n, c, r + dr_k, q + dq_k]`.
    static func convolve(_ input: Tensor, _ weight: Tensor) -> Tensor {
        let (resultType, computeType) = types(input, weight)
        let x = input.to(computeType).contiguous(), w = weight.to(computeType).contiguous()
        let batch = x.shape[0], inChannels = x.shape[1], height = x.shape[2], width = x.shape[3]
        let outChannels = w.shape[0]
        let output = Tensor.zeros([batch, outChannels, height, width], dtype: computeType)
        let sizes = Sizes(batch: batch, inChannels: inChannels, outChannels: outChannels, height: height, width: width)
        switch computeType {
        case .float64:
            convolve(x.elements(Double.self), w.elements(Double.self), into: output.elements(Double.self), sizes)
        default:
            convolve(x.elements(Float.self), w.elements(Float.self), into: output.elements(Float.self), sizes)
        }
        withExtendedLifetime((x, w)) {}
        return output.to(resultType)
    }

    /// `result[o, c, k] = Σ_n Σ_(r, q) gradOutput[n, o, r, q] · input[n, c, r + dr_k, q + dq_k]`.
    static func weightGradient(_ gradOutput: Tensor, _ input: Tensor) -> Tensor {
        let (resultType, computeType) = types(gradOutput, input)
        let g = gradOutput.to(computeType).contiguous(), x = input.to(computeType).contiguous()
        let batch = x.shape[0], inChannels = x.shape[1], height = x.shape[2], width = x.shape[3]
        let outChannels = g.shape[1]
        let result = Tensor.zeros([outChannels, inChannels, 7], dtype: computeType)
        let sizes = Sizes(batch: batch, inChannels: inChannels, outChannels: outChannels, height: height, width: width)
        switch computeType {
        case .float64:
            weightGradient(g.elements(Double.self), x.elements(Double.self), into: result.elements(Double.self), sizes)
        default:
            weightGradient(g.elements(Float.self), x.elements(Float.self), into: result.elements(Float.self), sizes)
        }
        withExtendedLifetime((g, x)) {}
        return result.to(resultType)
    }

    // MARK: Loops

    struct Sizes {
        let batch, inChannels, outChannels, height, width: Int
        var plane: Int { height * width }
    }

    /// The rows (or columns) `i` of `0..<size` whose neighbour `i + shift` is inside the grid.
    @inline(__always)
    static func valid(_ size: Int, shift: Int) -> Range<Int> {
        let lower = max(0, -shift), upper = min(size, size - shift)
        return lower..<max(lower, upper)
    }

    /// For each (output channel, input channel, tap), adds the shifted input plane times the
    /// tap's weight to the output plane. The innermost loop runs along a row with unit
    /// stride on both sides, so the compiler vectorises it.
    static func convolve<T: BinaryFloatingPoint>(_ x: UnsafeMutablePointer<T>, _ w: UnsafeMutablePointer<T>,
                                                 into y: UnsafeMutablePointer<T>, _ s: Sizes) {
        for n in 0..<s.batch {
            for o in 0..<s.outChannels {
                let outputPlane = y + (n * s.outChannels + o) * s.plane
                for c in 0..<s.inChannels {
                    let inputPlane = x + (n * s.inChannels + c) * s.plane
                    for (k, tap) in HexagonalLattice.taps.enumerated() {
                        let weight = w[(o * s.inChannels + c) * 7 + k]
                        let columns = valid(s.width, shift: tap.q)
                        for r in valid(s.height, shift: tap.r) {
                            let target = outputPlane + r * s.width
                            let source = inputPlane + (r + tap.r) * s.width + tap.q
                            for q in columns { target[q] += weight * source[q] }
                        }
                    }
                }
            }
        }
    }

    /// For each (output channel, input channel, tap), the dot product of the output gradient
    /// with the shifted input, over the batch. Each row is summed in `T`, rows in Double, so
    /// that float32 sums over large lattices keep their precision.
    static func weightGradient<T: BinaryFloatingPoint>(_ g: UnsafeMutablePointer<T>, _ x: UnsafeMutablePointer<T>,
                                                       into result: UnsafeMutablePointer<T>, _ s: Sizes) {
        for o in 0..<s.outChannels {
            for c in 0..<s.inChannels {
                for (k, tap) in HexagonalLattice.taps.enumerated() {
                    let columns = valid(s.width, shift: tap.q)
                    var total = 0.0
                    for n in 0..<s.batch {
                        let gradientPlane = g + (n * s.outChannels + o) * s.plane
                        let inputPlane = x + (n * s.inChannels + c) * s.plane
                        for r in valid(s.height, shift: tap.r) {
                            let gradientRow = gradientPlane + r * s.width
                            let inputRow = inputPlane + (r + tap.r) * s.width + tap.q
                            var rowSum: T = 0
                            for q in columns { rowSum += gradientRow[q] * inputRow[q] }
                            total += Double(rowSum)
                        }
                    }
                    result[(o * s.inChannels + c) * 7 + k] = T(total)
                }
            }
        }
    }

    /// The promoted dtype of two operands and the dtype the loops compute in.
    static func types(_ a: Tensor, _ b: Tensor) -> (result: DType, compute: DType) {
        let result = DType.promote(a.dtype, b.dtype)
        checkArgument(result.isFloatingPoint, "HexagonalConvolution: expected floating-point tensors, got \(a.dtype) and \(b.dtype)")
        return (result, result == .float64 ? .float64 : .float32)
    }
}

extension Tensor {
    /// The first element of this contiguous tensor, typed. The caller keeps the tensor alive
    /// while using the pointer (`withExtendedLifetime`), since the pointer does not.
    func elements<T: TensorElement>(_ type: T.Type) -> UnsafeMutablePointer<T> {
        checkArgument(isContiguous && dtype == T.dtype, "elements: expected a contiguous \(T.dtype) tensor, got \(dtype) with strides \(strides)")
        return (storage.pointer + storageOffset * dtype.byteSize).assumingMemoryBound(to: T.self)
    }
}
