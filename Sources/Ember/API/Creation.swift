import CEmberKernels

// MARK: - From Swift values

extension Tensor {
    /// A tensor holding `scalars` in row-major order with the given shape.
    ///
    ///     let m = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6] as [Float])
    public convenience init<T: TensorElement>(shape: [Int], scalars: [T]) {
        emberPrecondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in shape \(shape)")
        let layout = Layout(contiguous: shape)
        emberPrecondition(layout.count == scalars.count,
                     "Tensor: shape \(shape) is invalid for input of size \(scalars.count)")
        let storage = TensorStorage(byteCount: scalars.count * T.dtype.byteSize)
        scalars.withUnsafeBytes { bytes in
            if let base = bytes.baseAddress { storage.pointer.copyMemory(from: base, byteCount: bytes.count) }
        }
        self.init(storage: storage, layout: layout, dtype: T.dtype)
        Tracing.noteConstant(self)
    }

    /// A 1-D tensor.
    ///
    ///     Tensor([1, 2, 3] as [Float])
    public convenience init<T: TensorElement>(_ scalars: [T]) {
        self.init(shape: [scalars.count], scalars: scalars)
    }

    /// A 2-D tensor from nested arrays. Rows of different lengths stop the program with
    /// PyTorch's message, `expected sequence of length 2 at dim 1 (got 1)`.
    ///
    ///     Tensor([[1, 2], [3, 4]] as [[Float]])   // shape [2, 2]
    public convenience init<T: TensorElement>(_ rows: [[T]]) {
        let columns = rows.first?.count ?? 0
        for row in rows { Self.checkLength(row.count, expected: columns, dim: 1) }
        self.init(shape: [rows.count, columns], scalars: rows.flatMap { $0 })
    }

    /// A 3-D tensor from nested arrays (every level must be rectangular).
    public convenience init<T: TensorElement>(_ planes: [[[T]]]) {
        let rows = planes.first?.count ?? 0, columns = planes.first?.first?.count ?? 0
        for plane in planes {
            Self.checkLength(plane.count, expected: rows, dim: 1)
            for row in plane { Self.checkLength(row.count, expected: columns, dim: 2) }
        }
        self.init(shape: [planes.count, rows, columns], scalars: planes.flatMap { $0.flatMap { $0 } })
    }

    /// A 4-D tensor from nested arrays (every level must be rectangular).
    public convenience init<T: TensorElement>(_ blocks: [[[[T]]]]) {
        let planes = blocks.first?.count ?? 0, rows = blocks.first?.first?.count ?? 0
        let columns = blocks.first?.first?.first?.count ?? 0
        for block in blocks {
            Self.checkLength(block.count, expected: planes, dim: 1)
            for plane in block {
                Self.checkLength(plane.count, expected: rows, dim: 2)
                for row in plane { Self.checkLength(row.count, expected: columns, dim: 3) }
            }
        }
        self.init(shape: [blocks.count, planes, rows, columns], scalars: blocks.flatMap { $0.flatMap { $0.flatMap { $0 } } })
    }

    /// Stops on ragged nested arrays with PyTorch's message.
    private static func checkLength(_ count: Int, expected: Int, dim: Int) {
        emberPrecondition(count == expected, "Tensor: expected sequence of length \(expected) at dim \(dim) (got \(count))")
    }

    /// A 0-d tensor holding one value.
    ///
    ///     Tensor(3.5)    // float64 scalar tensor
    public convenience init<T: TensorElement>(_ scalar: T) {
        self.init(shape: [], scalars: [scalar])
    }
}

// MARK: - Factories

// Floating-point factories take `dtype: DType? = nil`, meaning `DType.defaultFloat` at the time
// of the call (PyTorch's `torch.get_default_dtype()`); a fixed `.float32` default would ignore
// a changed default.

extension Tensor {
    /// An uninitialised tensor (its contents are whatever the memory held).
    ///
    ///     let buffer = Tensor.empty([2, 3])
    public static func empty(_ shape: [Int], dtype: DType? = nil, requiresGrad: Bool = false) -> Tensor {
        emberPrecondition(shape.allSatisfy { $0 >= 0 }, "empty: negative dimension in shape \(shape)")
        let result = Tensor(uninitializedShape: shape, dtype: dtype ?? DType.defaultFloat)
        if requiresGrad { result.requiresGrad = true }
        return result
    }

    /// A tensor with every element equal to `value`. Without `dtype`, a floating-point value
    /// gives the default float, an integer its own type (`Int` gives int64), a Bool gives bool.
    ///
    ///     Tensor.full([2, 2], 7.0)   // float32
    ///     Tensor.full([2], 7)        // int64
    public static func full<S: TensorElement>(_ shape: [Int], _ value: S, dtype: DType? = nil, requiresGrad: Bool = false) -> Tensor {
        let dtype = dtype ?? (S.dtype.isFloatingPoint ? DType.defaultFloat : S.dtype)
        let result = empty(shape, dtype: dtype)
        ember_fill(dtype.cType, result.baseAddress, Int64(result.count), value.emberDouble)
        Tracing.noteConstant(result)
        if requiresGrad { result.requiresGrad = true }
        return result
    }

    /// A tensor of zeros.
    ///
    ///     Tensor.zeros([2, 3], dtype: .int32)
    public static func zeros(_ shape: [Int], dtype: DType? = nil, requiresGrad: Bool = false) -> Tensor {
        full(shape, 0.0, dtype: dtype ?? DType.defaultFloat, requiresGrad: requiresGrad)
    }

    /// A tensor of ones.
    public static func ones(_ shape: [Int], dtype: DType? = nil, requiresGrad: Bool = false) -> Tensor {
        full(shape, 1.0, dtype: dtype ?? DType.defaultFloat, requiresGrad: requiresGrad)
    }

    /// Zeros with the shape and dtype of `other` (always contiguous).
    public static func zerosLike(_ other: Tensor, dtype: DType? = nil, requiresGrad: Bool = false) -> Tensor {
        zeros(other.shape, dtype: dtype ?? other.dtype, requiresGrad: requiresGrad)
    }
    /// Ones with the shape and dtype of `other`.
    public static func onesLike(_ other: Tensor, dtype: DType? = nil, requiresGrad: Bool = false) -> Tensor {
        ones(other.shape, dtype: dtype ?? other.dtype, requiresGrad: requiresGrad)
    }
    /// `value` everywhere, with the shape and dtype of `other`.
    public static func fullLike<S: TensorElement>(_ other: Tensor, _ value: S, dtype: DType? = nil,
                                                  requiresGrad: Bool = false) -> Tensor {
        full(other.shape, value, dtype: dtype ?? other.dtype, requiresGrad: requiresGrad)
    }
    /// Uninitialised, with the shape and dtype of `other`.
    public static func emptyLike(_ other: Tensor, dtype: DType? = nil, requiresGrad: Bool = false) -> Tensor {
        empty(other.shape, dtype: dtype ?? other.dtype, requiresGrad: requiresGrad)
    }

    /// Integers from `start` up to (not including) `end` in steps of `step`, int64 by default:
    /// PyTorch picks the dtype from the argument types, so integer arguments give int64.
    ///
    ///     Tensor.arange(2, 11, step: 3)   // [2, 5, 8] (int64)
    ///     Tensor.arange(5, 0, step: -2)   // [5, 3, 1]
    public static func arange(_ start: Int, _ end: Int, step: Int = 1, dtype: DType = .int64,
                              requiresGrad: Bool = false) -> Tensor {
        emberPrecondition(step != 0, "arange: step must be nonzero")
        emberPrecondition(step > 0 ? end >= start : end <= start,
                          "arange: upper bound and lower bound inconsistent with step sign (start \(start), end \(end), step \(step))")
        // Integer arithmetic: exact beyond 2^53, where a Double count or value would not be.
        let span = end - start
        let count = step > 0 ? (span + step - 1) / step : (span + step + 1) / step
        let values = (0..<count).map { Int64(start) + Int64($0) * Int64(step) }
        let result = Tensor(shape: [count], scalars: values).to(dtype)
        if requiresGrad { result.requiresGrad = true }
        return result
    }

    /// Values from `start` up to (not including) `end` in steps of `step`, in the default float
    /// type: any floating-point argument makes PyTorch's arange floating point. There are
    /// `ceil((end - start) / step)` values `start + i * step`, computed in double precision.
    /// An integer `dtype` truncates `start` and `step` first, as PyTorch does.
    ///
    ///     Tensor.arange(0, 1, step: 0.25)  // [0, 0.25, 0.5, 0.75] (float32)
    ///     Tensor.arange(0.0, 3.0)          // [0, 1, 2] (float32, as torch.arange(0., 3.))
    public static func arange(_ start: Double, _ end: Double, step: Double = 1, dtype: DType? = nil,
                              requiresGrad: Bool = false) -> Tensor {
        emberPrecondition(start.isFinite && end.isFinite, "arange: unsupported range: \(start) -> \(end)")
        emberPrecondition(step != 0 && step.isFinite, "arange: step must be nonzero and finite (got \(step))")
        emberPrecondition(step > 0 ? end >= start : end <= start,
                          "arange: upper bound and lower bound inconsistent with step sign (start \(start), end \(end), step \(step))")
        let dtype = dtype ?? DType.defaultFloat
        let size = ((end - start) / step).rounded(.up)
        emberPrecondition(size < Double(Int32.max) * 64, "arange: invalid size \(size), possible overflow")
        let count = Int(size)
        let result: Tensor
        if dtype.isIntegral {
            let first = Int64(start), increment = Int64(step)
            result = Tensor(shape: [count], scalars: (0..<count).map { first &+ Int64($0) &* increment }).to(dtype)
        } else {
            result = Tensor(shape: [count], scalars: (0..<count).map { start + Double($0) * step }).to(dtype)
        }
        if requiresGrad { result.requiresGrad = true }
        return result
    }

    /// `0, 1, …, end - 1` as int64 (or `dtype`).
    ///
    ///     Tensor.arange(5)   // [0, 1, 2, 3, 4]
    public static func arange(_ end: Int, dtype: DType = .int64, requiresGrad: Bool = false) -> Tensor {
        arange(0, end, step: 1, dtype: dtype, requiresGrad: requiresGrad)
    }

    /// `0, 1, …` below `end`, in the default float type.
    ///
    ///     Tensor.arange(2.5)   // [0, 1, 2] (float32)
    public static func arange(_ end: Double, dtype: DType? = nil, requiresGrad: Bool = false) -> Tensor {
        arange(0, end, step: 1, dtype: dtype, requiresGrad: requiresGrad)
    }

    /// `steps` evenly spaced values from `start` to `end` inclusive; the last is exactly `end`,
    /// and `steps == 1` gives `[start]` (PyTorch's rules).
    ///
    ///     Tensor.linspace(0, 1, steps: 5)   // [0, 0.25, 0.5, 0.75, 1]
    public static func linspace(_ start: Double, _ end: Double, steps: Int, dtype: DType? = nil,
                                requiresGrad: Bool = false) -> Tensor {
        emberPrecondition(steps >= 0, "linspace: number of steps must be non-negative (got \(steps))")
        let values: [Double]
        if steps == 1 {
            values = [start]
        } else {
            let stepSize = (end - start) / Double(steps - 1)
            // Fill from both ends, as PyTorch does, so the last value is exactly `end`.
            values = (0..<steps).map { i in
                i < steps / 2 ? start + stepSize * Double(i) : end - stepSize * Double(steps - 1 - i)
            }
        }
        let result = Tensor(shape: [steps], scalars: values).to(dtype ?? DType.defaultFloat)
        if requiresGrad { result.requiresGrad = true }
        return result
    }

    /// An identity matrix with `rows` rows and `columns` columns (default square).
    ///
    ///     Tensor.eye(2, 3)   // [[1, 0, 0], [0, 1, 0]]
    public static func eye(_ rows: Int, _ columns: Int? = nil, dtype: DType? = nil, requiresGrad: Bool = false) -> Tensor {
        let columns = columns ?? rows
        emberPrecondition(rows >= 0 && columns >= 0, "eye: expected non-negative sizes, got \(rows) x \(columns)")
        var values = [Double](repeating: 0, count: rows * columns)
        for i in 0..<Swift.min(rows, columns) { values[i * columns + i] = 1 }
        let result = Tensor(shape: [rows, columns], scalars: values).to(dtype ?? DType.defaultFloat)
        if requiresGrad { result.requiresGrad = true }
        return result
    }
}
