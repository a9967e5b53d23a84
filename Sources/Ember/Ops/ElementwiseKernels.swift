import CEmberKernels
import EmberKernels

/// Runs the C elementwise kernels over strided, broadcast operands, splitting large work
/// across threads. Operands arrive already promoted to one compute dtype.
enum ElementwiseKernel {
    /// Elements per thread below which a kernel runs on the calling thread.
    static let grain = 1 << 15

    /// Calls `kernel(rank, shape, outOffsetBytes, aOffsetBytes, bOffsetBytes)` over chunks of
    /// the coalesced loop, with strides in elements.
    private static func forEachChunk(_ loop: CoalescedLoop, elementSizes: (Int, Int, Int),
                                     _ kernel: (_ shape: UnsafePointer<Int64>, _ rank: Int32, _ offsets: (Int, Int, Int)) -> Void) {
        let total = loop.shape.reduce(1, *)
        if total == 0 { return }
        if total <= grain || ParallelLoop.threadCount == 1 || loop.rank == 0 {
            loop.shape.withUnsafeBufferPointer { kernel($0.baseAddress!, Int32(loop.rank), (0, 0, 0)) }
            return
        }
        let outer = Int(loop.shape[0])
        let inner = Int(total) / outer
        ParallelLoop.run(count: outer, grain: max(1, grain / max(inner, 1))) { range in
            var shape = loop.shape
            shape[0] = Int64(range.count)
            let start = range.lowerBound
            let offsets = (start * Int(loop.strides[0][0]) * elementSizes.0,
                           start * Int(loop.strides[1][0]) * elementSizes.1,
                           start * Int(loop.strides[2][0]) * elementSizes.2)
            shape.withUnsafeBufferPointer { kernel($0.baseAddress!, Int32(loop.rank), offsets) }
        }
    }

    /// out = op(a, b) with broadcasting; `out` has the broadcast shape and `a`, `b` its dtype.
    static func binary(_ op: ember_binary_op, _ a: Tensor, _ b: Tensor, into out: Tensor) {
        let size = out.dtype.byteSize
        // Fast path: same-shape contiguous operands (the common case, and the one-element op).
        if a.shape == b.shape && a.isContiguous && b.isContiguous && out.isContiguous {
            binaryContiguous(op, a, b, into: out)
            return
        }
        // Fast path: a contiguous tensor and a one-element operand (`x * 2`, `x + bias` of size 1).
        if out.isContiguous && (b.count == 1 && a.isContiguous && a.shape == out.shape
                                || a.count == 1 && b.isContiguous && b.shape == out.shape) {
            let n = out.count
            let scalarOnRight = b.count == 1 && a.shape == out.shape
            let o = out.baseAddress, x = UnsafeRawPointer(a.baseAddress), y = UnsafeRawPointer(b.baseAddress)
            ParallelLoop.run(count: n, grain: grain) { range in
                var length = Int64(range.count), unit: Int64 = 1, zero: Int64 = 0
                let offset = range.lowerBound * size
                if scalarOnRight {
                    ember_binary(op, out.dtype.cType, 1, &length, o + offset, &unit, x + offset, &unit, y, &zero)
                } else {
                    ember_binary(op, out.dtype.cType, 1, &length, o + offset, &unit, x, &zero, y + offset, &unit)
                }
            }
            return
        }
        let loop = CoalescedLoop(shape: out.shape, strides: [
            out.strides, Broadcast.strides(of: a.layout, to: out.shape), Broadcast.strides(of: b.layout, to: out.shape),
        ])
        let o = out.baseAddress, x = UnsafeRawPointer(a.baseAddress), y = UnsafeRawPointer(b.baseAddress)
        forEachChunk(loop, elementSizes: (size, size, size)) { shape, rank, offsets in
            ember_binary(op, out.dtype.cType, rank, shape, o + offsets.0, loop.strides[0],
                         x + offsets.1, loop.strides[1], y + offsets.2, loop.strides[2])
        }
    }

    /// out = op(a, b) for contiguous `a`, `b` and `out` of one shape and dtype.
    @inline(__always)
    static func binaryContiguous(_ op: ember_binary_op, _ a: Tensor, _ b: Tensor, into out: Tensor) {
        let n = out.count, size = out.dtype.byteSize
        let o = out.baseAddress, x = UnsafeRawPointer(a.baseAddress), y = UnsafeRawPointer(b.baseAddress)
        if n <= grain || ParallelLoop.threadCount == 1 {
            var length = Int64(n), unit: Int64 = 1
            ember_binary(op, out.dtype.cType, 1, &length, o, &unit, x, &unit, y, &unit)
            return
        }
        ParallelLoop.run(count: n, grain: grain) { range in
            var length = Int64(range.count), unit: Int64 = 1
            let offset = range.lowerBound * size
            ember_binary(op, out.dtype.cType, 1, &length, o + offset, &unit, x + offset, &unit, y + offset, &unit)
        }
    }

    /// out = op(a, scalar) or op(scalar, a) for a contiguous `a`, the scalar read from `scalar`
    /// (one element of out's dtype).
    static func binary(_ op: ember_binary_op, _ a: Tensor, scalar: UnsafeRawPointer, scalarOnLeft: Bool, into out: Tensor) {
        let n = out.count, size = out.dtype.byteSize
        let o = out.baseAddress, x = UnsafeRawPointer(a.baseAddress)
        ParallelLoop.run(count: n, grain: grain) { range in
            var length = Int64(range.count), unit: Int64 = 1, zero: Int64 = 0
            let offset = range.lowerBound * size
            if scalarOnLeft {
                ember_binary(op, out.dtype.cType, 1, &length, o + offset, &unit, scalar, &zero, x + offset, &unit)
            } else {
                ember_binary(op, out.dtype.cType, 1, &length, o + offset, &unit, x + offset, &unit, scalar, &zero)
            }
        }
    }

    /// out (bool) = compare(a, b) with broadcasting; `a` and `b` share a dtype.
    static func compare(_ op: ember_compare_op, _ a: Tensor, _ b: Tensor, into out: Tensor) {
        let loop = CoalescedLoop(shape: out.shape, strides: [
            out.strides, Broadcast.strides(of: a.layout, to: out.shape), Broadcast.strides(of: b.layout, to: out.shape),
        ])
        let size = a.dtype.byteSize
        let o = out.baseAddress, x = UnsafeRawPointer(a.baseAddress), y = UnsafeRawPointer(b.baseAddress)
        forEachChunk(loop, elementSizes: (1, size, size)) { shape, rank, offsets in
            ember_compare(op, a.dtype.cType, rank, shape, (o + offsets.0).assumingMemoryBound(to: Bool.self), loop.strides[0],
                          x + offsets.1, loop.strides[1], y + offsets.2, loop.strides[2])
        }
    }

    /// y = op(x) elementwise; `x` and `y` are contiguous with the same count.
    static func unary(_ op: ember_unary_op, _ x: Tensor, into y: Tensor, parameters: (Double, Double)) {
        let n = x.count
        let input = UnsafeRawPointer(x.baseAddress), output = y.baseAddress
        let dtype = x.dtype, inSize = x.dtype.byteSize, outSize = y.dtype.byteSize
        // Transcendental functions cost far more per element than a copy: split them earlier.
        ParallelLoop.run(count: n, grain: grain / 4) { range in
            let count = Int64(range.count)
            let source = input + range.lowerBound * inSize, target = output + range.lowerBound * outSize
            switch dtype {
            case .float32:
                ember_unary_f32(op, source.assumingMemoryBound(to: Float.self),
                                target.assumingMemoryBound(to: Float.self), count, parameters.0, parameters.1)
            case .float64:
                ember_unary_f64(op, source.assumingMemoryBound(to: Double.self),
                                target.assumingMemoryBound(to: Double.self), count, parameters.0, parameters.1)
            default:
                ember_unary_integer(op, dtype.cType, source, target, count, parameters.0, parameters.1)
            }
        }
    }
}
