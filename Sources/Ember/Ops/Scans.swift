import EmberKernels

/// Inclusive scans along one dimension: cumsum and cumprod. The input is made contiguous and
/// seen as `[outer, n, inner]`; each of the `inner` running totals is kept in Double (float32
/// scans accumulate in double, like PyTorch's CPU kernels), and `outer` is split across threads.
extension Tensor {
    /// Running sum along `dim`; integers and bools give int64, as in PyTorch.
    ///
    ///     Tensor([1, 2, 3] as [Float]).cumsum(dim: 0)   // [1, 3, 6]
    public func cumsum(dim: Int) -> Tensor {
        let axis = normalizedDim(dim, op: "cumsum")
        return Dispatch.apply(self, { _ in .cumulativeSum(dim: axis, reverse: false) }) { scanned(product: false, axis: axis) }
    }

    /// The running sum from the end along `axis` (cumsum's gradient), as a contiguous tensor.
    func reverseCumsum(axis: Int) -> Tensor {
        Dispatch.apply(self, { _ in .cumulativeSum(dim: axis, reverse: true) }) {
            withoutGrad { flippedView(axis).cumsum(dim: axis).flippedView(axis).contiguous() }
        }
    }

    /// Running product along `dim`; integers and bools give int64. The gradient is exact when
    /// the input contains zeros (an O(n²) path along `dim` is used then; the usual path divides
    /// by the input).
    ///
    ///     Tensor([1, 2, 3] as [Float]).cumprod(dim: 0)  // [1, 2, 6]
    public func cumprod(dim: Int) -> Tensor {
        let axis = normalizedDim(dim, op: "cumprod")
        return Dispatch.apply(self, { _ in .cumulativeProduct(dim: axis) }) { scanned(product: true, axis: axis) }
    }

    /// d/dx_i of sum_k g_k prod_{j<=k} x_j without dividing: for each i, the running product
    /// of x with x_i replaced by 1, so C[i, k] = prod_{j<=k, j != i} x_j, then
    /// grad_i = sum_{k>=i} g_k C[i, k]. Written in Tensor ops, so it is itself differentiable.
    static func cumprodGradientWithZeros(_ x: Tensor, _ g: Tensor, axis: Int) -> Tensor {
        let last = x.rank - 1
        let xs = x.transposed(axis, last), gs = g.transposed(axis, last)
        let n = x.shape[axis]
        let positions = Tensor.arange(n)
        let row = positions.reshaped([n, 1]), column = positions.reshaped([1, n])
        let expandedShape = Array(xs.shape.dropLast()) + [n, n]
        let replaced = Tensor.where(row .== column, Tensor(wrapping: 1.0), xs.unsqueezed(-2).expanded(to: expandedShape))
        let partial = replaced.cumprod(dim: -1)
        let laterOrSame = (column .>= row).to(x.dtype)
        let gradient = (partial * gs.unsqueezed(-2) * laterOrSame).sum(dim: -1)
        return gradient.transposed(axis, last)
    }

    /// A view with `axis` in reverse order (negative stride); its gradient is flipped back.
    func flippedView(_ axis: Int) -> Tensor {
        var strides = self.strides
        let offset = layout.offset + Swift.max(shape[axis] - 1, 0) * strides[axis]
        strides[axis] = -strides[axis]
        // A view, where the flip primitive copies: the same values, and the same rule.
        return Dispatch.apply(self, { _ in .flip([axis]) }) { view(as: Layout(shape: shape, strides: strides, offset: offset)) }
    }

    /// The forward scan, without recording.
    private func scanned(product: Bool, axis: Int) -> Tensor {
        let resultType: DType = dtype.isIntegral ? .int64 : dtype
        let computeType: DType = resultType == .float64 || resultType == .int64 ? resultType : .float32
        let input = withoutGrad { self.to(computeType).contiguous() }
        let result = Tensor(uninitializedShape: shape, dtype: computeType)
        let n = rank == 0 ? 1 : shape[axis]
        let inner = rank == 0 ? 1 : shape[(axis + 1)...].reduce(1, *)
        let outer = n * inner == 0 ? 0 : count / (n * inner)
        let source = UnsafeRawPointer(input.baseAddress), target = result.baseAddress
        ParallelLoop.run(count: outer, grain: Swift.max(1, (1 << 15) / Swift.max(n * inner, 1))) { range in
            for o in range {
                let base = o * n * inner
                switch computeType {
                case .float32:
                    Self.scanLine(product, source.assumingMemoryBound(to: Float.self) + base, n: n, inner: inner,
                                  target.assumingMemoryBound(to: Float.self) + base)
                case .float64:
                    Self.scanLine(product, source.assumingMemoryBound(to: Double.self) + base, n: n, inner: inner,
                                  target.assumingMemoryBound(to: Double.self) + base)
                default:
                    Self.scanIntegerLine(product, source.assumingMemoryBound(to: Int64.self) + base, n: n, inner: inner,
                                         target.assumingMemoryBound(to: Int64.self) + base)
                }
            }
        }
        return resultType == computeType ? result : withoutGrad { result.to(resultType) }
    }

    private static func scanLine<T: BinaryFloatingPoint>(_ product: Bool, _ x: UnsafePointer<T>, n: Int, inner: Int,
                                                         _ y: UnsafeMutablePointer<T>) {
        var totals = [Double](repeating: product ? 1 : 0, count: inner)
        for k in 0..<n {
            for i in 0..<inner {
                let v = Double(x[k * inner + i])
                totals[i] = product ? totals[i] * v : totals[i] + v
                y[k * inner + i] = T(totals[i])
            }
        }
    }

    private static func scanIntegerLine(_ product: Bool, _ x: UnsafePointer<Int64>, n: Int, inner: Int,
                                        _ y: UnsafeMutablePointer<Int64>) {
        var totals = [Int64](repeating: product ? 1 : 0, count: inner)
        for k in 0..<n {
            for i in 0..<inner {
                totals[i] = product ? totals[i] &* x[k * inner + i] : totals[i] &+ x[k * inner + i]
                y[k * inner + i] = totals[i]
            }
        }
    }
}
