import CEmberKernels
import EmberKernels

/// Strided copies: the only way data moves between layouts and dtypes.
enum CopyKernel {
    /// Copies `source` (broadcast to `destination`'s shape) into `destination`, converting dtype.
    static func copy(from source: Tensor, into destination: Tensor) {
        // Fast path: same element order on both sides (contiguous, same shape), or a single
        // source element broadcast over a contiguous destination: one flat loop.
        if destination.isContiguous && (source.count == 1 || (source.isContiguous && source.shape == destination.shape)) {
            let n = destination.count
            let dst = destination.baseAddress, src = UnsafeRawPointer(source.baseAddress)
            let dstType = destination.dtype, srcType = source.dtype
            let sourceStep: Int64 = source.count == 1 ? 0 : 1
            ParallelLoop.run(count: n, grain: 1 << 16) { range in
                var length = Int64(range.count), unit: Int64 = 1, step = sourceStep
                ember_copy(dstType.cType, srcType.cType, 1, &length,
                           dst + range.lowerBound * dstType.byteSize, &unit,
                           src + range.lowerBound * Int(sourceStep) * srcType.byteSize, &step)
            }
            return
        }
        let shape = destination.shape
        let sourceStrides = Broadcast.strides(of: source.layout, to: shape)
        let loop = CoalescedLoop(shape: shape, strides: [destination.strides, sourceStrides])
        let dst = destination.baseAddress, src = UnsafeRawPointer(source.baseAddress)
        let dstType = destination.dtype, srcType = source.dtype
        run(loop, dst: dst, dstType: dstType, src: src, srcType: srcType)
    }

    private static func run(_ loop: CoalescedLoop, dst: UnsafeMutableRawPointer, dstType: DType,
                            src: UnsafeRawPointer, srcType: DType) {
        let total = Int(loop.shape.reduce(1, *))
        guard total > 0 else { return }
        let grain = 1 << 16
        if loop.rank >= 1 && total > grain && ParallelLoop.threadCount > 1 {
            // Split the outermost dimension across threads.
            let outer = Int(loop.shape[0])
            let inner = total / max(outer, 1)
            ParallelLoop.run(count: outer, grain: max(1, grain / max(inner, 1))) { range in
                var shape = loop.shape
                shape[0] = Int64(range.count)
                let d = dst + range.lowerBound * Int(loop.strides[0][0]) * dstType.byteSize
                let s = src + range.lowerBound * Int(loop.strides[1][0]) * srcType.byteSize
                ember_copy(dstType.cType, srcType.cType, Int32(loop.rank), shape, d, loop.strides[0], s, loop.strides[1])
            }
            return
        }
        ember_copy(dstType.cType, srcType.cType, Int32(loop.rank), loop.shape, dst, loop.strides[0], src, loop.strides[1])
    }
}

extension Tensor {
    /// This tensor converted to `dtype` (the same tensor when it already has that dtype).
    ///
    ///     let counts = Tensor([1, 2, 3] as [Int]).to(.float32)
    public func to(_ dtype: DType) -> Tensor {
        Dispatch.apply(self, { _ in .cast(dtype) }, name: "to") {
            if dtype == self.dtype { return self }
            let result = Tensor(uninitializedLike: self, dtype: dtype)
            CopyKernel.copy(from: self, into: result)
            return result
        }
    }

    /// Same as `to(_:)`, with PyTorch's argument label.
    public func to(dtype: DType) -> Tensor { to(dtype) }

    /// This tensor in row-major order: itself when already contiguous, otherwise a copy.
    public func contiguous() -> Tensor {
        isContiguous ? self : contiguousCopy()
    }

    /// A new contiguous tensor with the same values (PyTorch's `clone()`).
    public func clone() -> Tensor { contiguousCopy() }

    func contiguousCopy() -> Tensor {
        Dispatch.apply(self, { _ in .copy }, name: "clone") {
            let result = Tensor(uninitializedShape: shape, dtype: dtype)
            CopyKernel.copy(from: self, into: result)
            return result
        }
    }
}
