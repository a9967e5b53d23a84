import EmberKernels

/// Matrix products: `matmul` with PyTorch's rank rules, and the strict forms `mm`, `bmm`,
/// `dot`, `outer` built on it.
///
/// Every form reduces to one primitive, `matrixProduct`, over operands of rank >= 2 whose
/// leading (batch) dimensions broadcast. Vectors enter it as 1-row or 1-column matrix views
/// and the extra dimension is removed afterwards, so only the primitive has a backward rule
/// (written in `matmul` itself, so higher-order gradients come for free).
///
/// Kernels: float32 and float64 go to `GEMM` with the operands' strides, so transposed views
/// (`x.t`, `transposed(-1, -2)`) multiply without a copy; an operand is copied only when
/// neither of its matrix dimensions has unit stride. float16 and bfloat16 compute in float32
/// and round the result back. Integers run a plain loop (PyTorch supports them on the CPU;
/// they are rare enough that a tuned kernel is not worth its code). bool is rejected.
extension Tensor {
    /// The matrix product with PyTorch's `torch.matmul` rules:
    /// - 1-D · 1-D: the dot product, a 0-d tensor;
    /// - 2-D · 2-D: the matrix product;
    /// - 1-D · N-D: the vector is a 1-row matrix, and that row is removed from the result;
    /// - N-D · 1-D: the vector is a 1-column matrix, and that column is removed;
    /// - N-D · N-D: a batch of matrix products, batch dimensions broadcast.
    ///
    ///     let y = x.matmul(w)                                       // [32, 784] · [784, 10] -> [32, 10]
    ///     Tensor.zeros([2, 1, 3, 4]).matmul(Tensor.zeros([5, 4, 6])).shape   // [2, 5, 3, 6]
    public func matmul(_ other: Tensor) -> Tensor {
        let a = self, b = other
        emberPrecondition(a.rank >= 1 && b.rank >= 1,
                     "matmul: both arguments to matmul need to be at least 1D, but they are \(a.rank)D and \(b.rank)D")
        let inner = b.rank == 1 ? b.shape[0] : b.shape[b.rank - 2]
        emberPrecondition(a.shape[a.rank - 1] == inner,
                     "matmul: shapes \(a.shape) and \(b.shape) cannot be multiplied (\(a.shape[a.rank - 1]) != \(inner))")
        if a.rank >= 2 && b.rank >= 2 { return Tensor.matrixProduct(a, b, op: "matmul") }
        let left = a.rank == 1 ? a.unsqueezed(0) : a
        let right = b.rank == 1 ? b.unsqueezed(1) : b
        let product = Tensor.matrixProduct(left, right, op: "matmul")
        // Remove the row (1-D left operand) and/or column (1-D right operand) added above.
        var shape = product.shape
        if b.rank == 1 { shape.removeLast() }
        if a.rank == 1 { shape.remove(at: shape.count - (b.rank == 1 ? 1 : 2)) }
        return product.reshaped(shape)
    }

    /// The product of two matrices (2-D only; use `matmul` for vectors and batches).
    ///
    ///     a.mm(b)   // [n, k] · [k, m] -> [n, m]
    public func mm(_ other: Tensor) -> Tensor {
        emberPrecondition(rank == 2 && other.rank == 2,
                     "mm: expected 2-D tensors, but got \(rank)-D and \(other.rank)-D")
        return Tensor.matrixProduct(self, other, op: "mm")
    }

    /// Batched matrix product of two 3-D tensors with equal batch sizes (no broadcasting).
    ///
    ///     a.bmm(b)   // [B, n, k] · [B, k, m] -> [B, n, m]
    public func bmm(_ other: Tensor) -> Tensor {
        emberPrecondition(rank == 3 && other.rank == 3,
                     "bmm: expected 3-D tensors, but got \(rank)-D and \(other.rank)-D")
        emberPrecondition(shape[0] == other.shape[0],
                     "bmm: batch sizes must match, but got \(shape[0]) and \(other.shape[0]) (shapes \(shape) and \(other.shape))")
        return Tensor.matrixProduct(self, other, op: "bmm")
    }

    /// The inner product of two 1-D tensors of equal length, as a 0-d tensor.
    ///
    ///     Tensor([1, 2, 3] as [Float]).dot(Tensor([4, 5, 6] as [Float]))   // tensor(32.)
    public func dot(_ other: Tensor) -> Tensor {
        emberPrecondition(rank == 1 && other.rank == 1,
                     "dot: 1D tensors expected, but got \(rank)D and \(other.rank)D tensors")
        emberPrecondition(count == other.count,
                     "dot: inconsistent tensor size, expected tensor [\(count)] and src [\(other.count)] to have the same number of elements, but got \(count) and \(other.count) elements respectively")
        return matmul(other)
    }

    /// The outer product of two 1-D tensors: `result[i, j] = self[i] * other[j]`.
    ///
    /// Written as a broadcast multiply rather than a k = 1 matrix product: it is exact,
    /// promotes dtypes like `*`, and needs no backward rule of its own.
    ///
    ///     Tensor([1, 2] as [Float]).outer(Tensor([3, 4, 5] as [Float]))   // shape [2, 3]
    public func outer(_ other: Tensor) -> Tensor {
        emberPrecondition(rank == 1 && other.rank == 1,
                     "outer: 1D tensors expected, but got \(rank)D and \(other.rank)D tensors")
        return unsqueezed(1) * other
    }

    /// `a.matmul(b)` in free-function form.
    public static func matmul(_ a: Tensor, _ b: Tensor) -> Tensor { a.matmul(b) }
}

// MARK: - The primitive

extension Tensor {
    /// `[batch..., n, k] · [batch..., k, m] -> [broadcast batch..., n, m]`, both operands of
    /// rank >= 2. The one matrix-product op with a backward rule.
    static func matrixProduct(_ a: Tensor, _ b: Tensor, op: String) -> Tensor {
        Dispatch.apply(a, b, { _ in .matmul }, name: op) {
            assert(a.rank >= 2 && b.rank >= 2)
            let n = a.shape[a.rank - 2], k = a.shape[a.rank - 1]
            let kb = b.shape[b.rank - 2], m = b.shape[b.rank - 1]
            emberPrecondition(k == kb, "\(op): shapes \(a.shape) and \(b.shape) cannot be multiplied (\(k) != \(kb))")
            emberPrecondition(a.dtype == b.dtype,
                         "\(op): expected both operands to have the same dtype, but got \(a.dtype) and \(b.dtype)")
            emberPrecondition(a.dtype != .bool, "\(op): not implemented for bool tensors")
            // Two plain matrices (the common case) skip the batch broadcast and its arrays.
            let batchShape = a.rank == 2 && b.rank == 2 ? []
                : Broadcast.shape(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)), op: op)
            let resultShape = batchShape.isEmpty ? [n, m] : batchShape + [n, m]

            let result: Tensor
            switch a.dtype {
            case .float32, .float64:
                result = Tensor(uninitializedShape: resultShape, dtype: a.dtype)
                MatrixProductKernel.run(a, b, into: result, batchShape: batchShape)
            case .float16, .bfloat16:
                let product = withoutGrad { matrixProduct(a.to(.float32), b.to(.float32), op: op) }
                result = withoutGrad { product.to(a.dtype) }
            default:
                result = Tensor(uninitializedShape: resultShape, dtype: a.dtype)
                MatrixProductKernel.runIntegers(a, b, into: result, batchShape: batchShape)
            }

            return result
        }
    }

    /// d(a·b)/da applied to `g`: `g · bᵀ`, with broadcast batch dimensions summed back.
    static func matrixProductGradientLeft(_ g: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        g.matmul(b.transposed(-1, -2)).sumToShape(a.shape)
    }

    /// d(a·b)/db applied to `g`: `aᵀ · g`, with broadcast batch dimensions summed back.
    /// A batched `a` times a plain matrix `b` (a linear layer over a sequence) folds the batch
    /// into the rows, so the sum over the batch happens inside one GEMM instead of after B of them.
    static func matrixProductGradientRight(_ g: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        // b is a transposed view (a linear layer's x · Wᵀ): compute (gᵀ · a)ᵀ, whose
        // transpose-back in the view's backward is contiguous, instead of aᵀ · g, which would
        // reach W's gradient as a transposed view and be copied element by element.
        if b.rank == 2 && a.rank >= 2 && b.strides[0] == 1 && b.strides[1] != 1 {
            let k = a.shape[a.rank - 1], m = b.shape[1]
            return g.reshaped([-1, m]).transposed(0, 1).matmul(a.reshaped([-1, k])).transposed(0, 1)
        }
        if b.rank == 2 && a.rank > 2 {
            let k = a.shape[a.rank - 1], m = b.shape[1]
            return a.reshaped([-1, k]).transposed(0, 1).matmul(g.reshaped([-1, m]))
        }
        return a.transposed(-1, -2).matmul(g).sumToShape(b.shape)
    }
}

// MARK: - Kernels

/// Drives GEMM (or the integer loop) over the batch of a broadcast matrix product.
enum MatrixProductKernel {
    /// Below this many multiply-adds per matrix, GEMM runs on one thread (it mirrors
    /// `GEMM.parallelLimit`), so a batch of such matrices is split across threads here instead.
    static let perMatrixParallelLimit = 96 * 96 * 96
    /// Multiply-adds per thread below which a batch runs on the calling thread.
    static let batchGrain = 64 * 64 * 64

    /// Element offsets of one matrix of `tensor` for each batch index of `batchShape`.
    static func batchOffsets(_ tensor: Tensor, batchShape: [Int]) -> [Int] {
        let batchLayout = Layout(shape: Array(tensor.shape.dropLast(2)), strides: Array(tensor.strides.dropLast(2)))
        let strides = Broadcast.strides(of: batchLayout, to: batchShape)
        let count = batchShape.reduce(1, *)
        var offsets = [Int](repeating: 0, count: count)
        var index = [Int](repeating: 0, count: batchShape.count)
        var offset = 0
        for batch in 0..<count {
            offsets[batch] = offset
            // Odometer increment over batchShape, updating the offset incrementally.
            var axis = batchShape.count - 1
            while axis >= 0 {
                index[axis] += 1
                offset += strides[axis]
                if index[axis] < batchShape[axis] { break }
                offset -= strides[axis] * index[axis]
                index[axis] = 0
                axis -= 1
            }
        }
        return offsets
    }

    /// True when GEMM can read the matrix dimensions of `tensor` directly: one of them has
    /// unit stride (or is a single row or column). Otherwise packing would gather element by
    /// element and a contiguous copy is cheaper.
    static func hasUnitStride(_ tensor: Tensor) -> Bool {
        let rows = tensor.shape[tensor.rank - 2], columns = tensor.shape[tensor.rank - 1]
        return tensor.strides[tensor.rank - 1] == 1 || tensor.strides[tensor.rank - 2] == 1 || rows <= 1 || columns <= 1
    }

    /// float32 / float64 through GEMM.
    /// `packedPanels`: a cache of B's packed panels that the caller keeps while B is unchanged
    /// (a compiled plan's weight); used when the product is one GEMM on B in place.
    /// `epilogue` runs on each finished block of the (2-D) result, in its coordinates.
    static func run(_ a: Tensor, _ b: Tensor, into result: Tensor, batchShape: [Int], packedPanels: PackedPanels? = nil,
                    epilogue: GEMMEpilogue? = nil) {
        let a = hasUnitStride(a) ? a : withoutGrad { a.contiguous() }
        let bInPlace = hasUnitStride(b)
        let b = bInPlace ? b : withoutGrad { b.contiguous() }
        let panels = bInPlace ? packedPanels : nil
        switch a.dtype {
        case .float32: run(Float.self, a, b, into: result, batchShape: batchShape, packedPanels: panels, epilogue: epilogue)
        case .float64: run(Double.self, a, b, into: result, batchShape: batchShape, packedPanels: panels, epilogue: epilogue)
        default: emberFailure("matmul: GEMM path called with \(a.dtype)")
        }
    }

    private static func run<T: GEMMScalar>(_ type: T.Type, _ a: Tensor, _ b: Tensor, into result: Tensor, batchShape: [Int],
                                           packedPanels: PackedPanels?, epilogue: GEMMEpilogue?) {
        let n = a.shape[a.rank - 2], k = a.shape[a.rank - 1], m = b.shape[b.rank - 1]
        let aRow = a.strides[a.rank - 2], aColumn = a.strides[a.rank - 1]
        let bRow = b.strides[b.rank - 2], bColumn = b.strides[b.rank - 1]
        let aBase = UnsafePointer(a.baseAddress.assumingMemoryBound(to: T.self))
        let bBase = UnsafePointer(b.baseAddress.assumingMemoryBound(to: T.self))
        let cBase = result.baseAddress.assumingMemoryBound(to: T.self)
        let batchCount = batchShape.reduce(1, *)
        if batchCount == 0 || n == 0 || m == 0 { epilogue?(0..<batchCount * n, 0..<m); return }

        // One matrix, or a batch of `a` against one shared `b` (a linear layer over a
        // sequence) whose batch folds into GEMM's rows: a single large GEMM.
        let bIsShared = b.rank == 2 || b.shape.dropLast(2).allSatisfy { $0 == 1 }
        if batchCount == 1 || (bIsShared && a.shape.dropLast(2).reduce(1, *) == batchCount) {
            if let folded = batchCount == 1 ? [aRow, aColumn] : a.viewStrides(for: [batchCount * n, k]) {
                T.gemm(m: batchCount * n, n: m, k: k, a: aBase, aRowStride: folded[0], aColumnStride: folded[1],
                       b: bBase, bRowStride: bRow, bColumnStride: bColumn, c: cBase, cRowStride: m,
                       packedPanels: packedPanels, epilogue: epilogue)
                return
            }
        }

        let aOffsets = batchOffsets(a, batchShape: batchShape)
        let bOffsets = batchOffsets(b, batchShape: batchShape)
        let work = n * m * max(k, 1)
        let multiply = { (batch: Int) in
            T.gemm(m: n, n: m, k: k, a: aBase + aOffsets[batch], aRowStride: aRow, aColumnStride: aColumn,
                   b: bBase + bOffsets[batch], bRowStride: bRow, bColumnStride: bColumn,
                   c: cBase + batch * n * m, cRowStride: m, packedPanels: nil, epilogue: nil)
        }
        if work >= perMatrixParallelLimit {
            // Large matrices: GEMM threads inside each product.
            for batch in 0..<batchCount { multiply(batch) }
        } else {
            // Small matrices: GEMM would run each on one thread, so split the batch instead.
            ParallelLoop.run(count: batchCount, grain: max(1, batchGrain / work)) { range in
                for batch in range { multiply(batch) }
            }
        }
        epilogue?(0..<batchCount * n, 0..<m)
    }

    /// Integer dtypes: a plain loop with wrapping arithmetic (as PyTorch's integer matmul wraps).
    static func runIntegers(_ a: Tensor, _ b: Tensor, into result: Tensor, batchShape: [Int]) {
        switch a.dtype {
        case .int64: runIntegers(Int64.self, a, b, into: result, batchShape: batchShape)
        case .int32: runIntegers(Int32.self, a, b, into: result, batchShape: batchShape)
        case .uint8: runIntegers(UInt8.self, a, b, into: result, batchShape: batchShape)
        default: emberFailure("matmul: not implemented for \(a.dtype)")
        }
    }

    private static func runIntegers<T: FixedWidthInteger>(_ type: T.Type, _ a: Tensor, _ b: Tensor, into result: Tensor, batchShape: [Int]) {
        let n = a.shape[a.rank - 2], k = a.shape[a.rank - 1], m = b.shape[b.rank - 1]
        let aRow = a.strides[a.rank - 2], aColumn = a.strides[a.rank - 1]
        let bRow = b.strides[b.rank - 2], bColumn = b.strides[b.rank - 1]
        let aBase = a.baseAddress.assumingMemoryBound(to: T.self)
        let bBase = b.baseAddress.assumingMemoryBound(to: T.self)
        let cBase = result.baseAddress.assumingMemoryBound(to: T.self)
        let aOffsets = batchOffsets(a, batchShape: batchShape)
        let bOffsets = batchOffsets(b, batchShape: batchShape)
        for batch in aOffsets.indices {
            let x = aBase + aOffsets[batch], y = bBase + bOffsets[batch], c = cBase + batch * n * m
            for i in 0..<n {
                let row = c + i * m
                for j in 0..<m { row[j] = 0 }
                // i-p-j order: the inner loop walks a row of b and of c.
                for p in 0..<k {
                    let scale = x[i * aRow + p * aColumn]
                    let bRowPointer = y + p * bRow
                    for j in 0..<m { row[j] = row[j] &+ scale &* bRowPointer[j * bColumn] }
                }
            }
        }
    }
}

/// The two element types GEMM serves, so that the batch driver is written once.
protocol GEMMScalar {
    static func gemm(m: Int, n: Int, k: Int,
                     a: UnsafePointer<Self>, aRowStride: Int, aColumnStride: Int,
                     b: UnsafePointer<Self>, bRowStride: Int, bColumnStride: Int,
                     c: UnsafeMutablePointer<Self>, cRowStride: Int, packedPanels: PackedPanels?, epilogue: GEMMEpilogue?)
}

extension Float: GEMMScalar {
    @inline(__always)
    static func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, aRowStride: Int, aColumnStride: Int,
                     b: UnsafePointer<Float>, bRowStride: Int, bColumnStride: Int,
                     c: UnsafeMutablePointer<Float>, cRowStride: Int, packedPanels: PackedPanels? = nil,
                     epilogue: GEMMEpilogue? = nil) {
        GEMM.multiply(m: m, n: n, k: k, alpha: 1, a: a, aRowStride: aRowStride, aColumnStride: aColumnStride,
                      b: b, bRowStride: bRowStride, bColumnStride: bColumnStride, beta: 0, c: c, cRowStride: cRowStride,
                      packedPanels: packedPanels, epilogue: epilogue)
    }
}

extension Double: GEMMScalar {
    @inline(__always)
    static func gemm(m: Int, n: Int, k: Int, a: UnsafePointer<Double>, aRowStride: Int, aColumnStride: Int,
                     b: UnsafePointer<Double>, bRowStride: Int, bColumnStride: Int,
                     c: UnsafeMutablePointer<Double>, cRowStride: Int, packedPanels: PackedPanels? = nil,
                     epilogue: GEMMEpilogue? = nil) {
        GEMM.multiply(m: m, n: n, k: k, alpha: 1, a: a, aRowStride: aRowStride, aColumnStride: aColumnStride,
                      b: b, bRowStride: bRowStride, bColumnStride: bColumnStride, beta: 0, c: c, cRowStride: cRowStride,
                      packedPanels: packedPanels, epilogue: epilogue)
    }
}
