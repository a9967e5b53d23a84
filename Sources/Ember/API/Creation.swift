import CEmberKernels

// MARK: - From Swift values

extension Tensor {
    /// A tensor holding `scalars` in row-major order with the given shape.
    ///
    ///     let m = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6] as [Float])
    public convenience init<T: TensorElement>(shape: [Int], scalars: [T]) {
        let layout = Layout(contiguous: shape)
        emberPrecondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in shape \(shape)")
        emberPrecondition(layout.count == scalars.count,
                     "Tensor: shape \(shape) is invalid for input of size \(scalars.count)")
        let storage = TensorStorage(byteCount: scalars.count * T.dtype.byteSize)
        scalars.withUnsafeBytes { bytes in
            if let base = bytes.baseAddress { storage.pointer.copyMemory(from: base, byteCount: bytes.count) }
        }
        self.init(storage: storage, layout: layout, dtype: T.dtype)
    }

    /// A 1-D tensor.
    ///
    ///     Tensor([1, 2, 3] as [Float])
    public convenience init<T: TensorElement>(_ scalars: [T]) {
        self.init(shape: [scalars.count], scalars: scalars)
    }

    /// A 2-D tensor from nested arrays (rows must have equal lengths).
    public convenience init<T: TensorElement>(_ rows: [[T]]) {
        let columns = rows.first?.count ?? 0
        emberPrecondition(rows.allSatisfy { $0.count == columns }, "Tensor: expected sequence of length \(columns) at dim 1")
        self.init(shape: [rows.count, columns], scalars: rows.flatMap { $0 })
    }

    /// A 3-D tensor from nested arrays.
    public convenience init<T: TensorElement>(_ planes: [[[T]]]) {
        let rows = planes.first?.count ?? 0, columns = planes.first?.first?.count ?? 0
        emberPrecondition(planes.allSatisfy { $0.count == rows && $0.allSatisfy { $0.count == columns } },
                     "Tensor: nested arrays are ragged; expected shape [\(planes.count), \(rows), \(columns)]")
        self.init(shape: [planes.count, rows, columns], scalars: planes.flatMap { $0.flatMap { $0 } })
    }

    /// A 4-D tensor from nested arrays.
    public convenience init<T: TensorElement>(_ blocks: [[[[T]]]]) {
        let inner = blocks.map { Tensor($0) }
        let shape = inner.first?.shape ?? [0, 0, 0]
        emberPrecondition(inner.allSatisfy { $0.shape == shape }, "Tensor: nested arrays are ragged")
        self.init(shape: [blocks.count] + shape, scalars: blocks.flatMap { $0.flatMap { $0.flatMap { $0 } } })
    }

    /// A 0-d tensor holding one value.
    ///
    ///     Tensor(3.5)    // float64 scalar tensor
    public convenience init<T: TensorElement>(_ scalar: T) {
        self.init(shape: [], scalars: [scalar])
    }
}

// MARK: - Factories

extension Tensor {
    /// An uninitialised tensor (its contents are whatever the memory held).
    public static func empty(_ shape: [Int], dtype: DType = .float32) -> Tensor {
        emberPrecondition(shape.allSatisfy { $0 >= 0 }, "empty: negative dimension in shape \(shape)")
        return Tensor(uninitializedShape: shape, dtype: dtype)
    }

    /// A tensor with every element equal to `value`.
    ///
    ///     Tensor.full([2, 2], 7.0)
    public static func full<S: TensorElement>(_ shape: [Int], _ value: S, dtype: DType? = nil, requiresGrad: Bool = false) -> Tensor {
        let dtype = dtype ?? (S.dtype.isFloatingPoint ? DType.defaultFloat : S.dtype)
        let result = empty(shape, dtype: dtype)
        ember_fill(dtype.cType, result.baseAddress, Int64(result.count), value.emberDouble)
        if requiresGrad { result.requiresGrad = true }
        return result
    }

    /// A tensor of zeros.
    public static func zeros(_ shape: [Int], dtype: DType = .float32, requiresGrad: Bool = false) -> Tensor {
        full(shape, 0.0, dtype: dtype, requiresGrad: requiresGrad)
    }

    /// A tensor of ones.
    public static func ones(_ shape: [Int], dtype: DType = .float32, requiresGrad: Bool = false) -> Tensor {
        full(shape, 1.0, dtype: dtype, requiresGrad: requiresGrad)
    }

    /// Zeros with the shape and dtype of `other`.
    public static func zerosLike(_ other: Tensor, dtype: DType? = nil) -> Tensor { zeros(other.shape, dtype: dtype ?? other.dtype) }
    /// Ones with the shape and dtype of `other`.
    public static func onesLike(_ other: Tensor, dtype: DType? = nil) -> Tensor { ones(other.shape, dtype: dtype ?? other.dtype) }
    /// `value` everywhere, with the shape and dtype of `other`.
    public static func fullLike<S: TensorElement>(_ other: Tensor, _ value: S, dtype: DType? = nil) -> Tensor {
        full(other.shape, value, dtype: dtype ?? other.dtype)
    }
    /// Uninitialised, with the shape and dtype of `other`.
    public static func emptyLike(_ other: Tensor, dtype: DType? = nil) -> Tensor { empty(other.shape, dtype: dtype ?? other.dtype) }

    /// Values from `start` up to (not including) `end` in steps of `step`.
    /// Integer arguments give int64, as in PyTorch; any fractional argument gives the default float.
    ///
    ///     Tensor.arange(5)                 // [0, 1, 2, 3, 4] (int64)
    ///     Tensor.arange(0, 1, step: 0.25)  // [0, 0.25, 0.5, 0.75]
    public static func arange(_ start: Double, _ end: Double, step: Double = 1, dtype: DType? = nil) -> Tensor {
        emberPrecondition(step != 0, "arange: step must be nonzero")
        emberPrecondition((end - start) / step >= 0 || end == start,
                     "arange: upper bound and larger bound inconsistent with step sign (start \(start), end \(end), step \(step))")
        let isIntegral = start.rounded() == start && end.rounded() == end && step.rounded() == step
        let dtype = dtype ?? (isIntegral ? .int64 : DType.defaultFloat)
        let count = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        let values = (0..<count).map { start + Double($0) * step }
        return Tensor(shape: [count], scalars: values).to(dtype)
    }

    /// `0, 1, …, end - 1` as int64 (or `dtype`).
    public static func arange(_ end: Int, dtype: DType = .int64) -> Tensor {
        arange(0, Double(end), step: 1, dtype: dtype)
    }

    /// `steps` evenly spaced values from `start` to `end` inclusive.
    ///
    ///     Tensor.linspace(0, 1, steps: 5)   // [0, 0.25, 0.5, 0.75, 1]
    public static func linspace(_ start: Double, _ end: Double, steps: Int, dtype: DType = .float32) -> Tensor {
        emberPrecondition(steps >= 0, "linspace: number of steps must be non-negative")
        let stepSize = steps > 1 ? (end - start) / Double(steps - 1) : 0
        // Fill from both ends, as PyTorch does, so the last value is exactly `end`.
        let values = (0..<steps).map { i in
            i < steps / 2 ? start + stepSize * Double(i) : end - stepSize * Double(steps - 1 - i)
        }
        return Tensor(shape: [steps], scalars: values).to(dtype)
    }

    /// An identity matrix with `rows` rows and `columns` columns (default square).
    public static func eye(_ rows: Int, _ columns: Int? = nil, dtype: DType = .float32) -> Tensor {
        let columns = columns ?? rows
        var values = [Double](repeating: 0, count: rows * columns)
        for i in 0..<Swift.min(rows, columns) { values[i * columns + i] = 1 }
        return Tensor(shape: [rows, columns], scalars: values).to(dtype)
    }
}
