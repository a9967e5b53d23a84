/// Handing memory to and from other code without copies.
extension Tensor {
    /// A contiguous tensor over memory the caller owns, with no copy. `deallocator` runs when
    /// the last tensor viewing this memory (including views made from it) is freed.
    ///
    ///     let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 24, alignment: 64)
    ///     let x = Tensor(borrowing: buffer, shape: [2, 3], dtype: .float32) { $0.deallocate() }
    ///
    /// The memory must stay valid and be aligned for `dtype` until the deallocator runs.
    public convenience init(borrowing buffer: UnsafeMutableRawBufferPointer, shape: [Int], dtype: DType,
                            deallocator: @escaping (UnsafeMutableRawBufferPointer) -> Void) {
        guard let count = CheckedSize.product(shape), let needed = CheckedSize.multiply(count, dtype.byteSize) else {
            emberFailure("Tensor(borrowing:): invalid shape \(shape)")
        }
        emberPrecondition(buffer.count >= needed,
                          "Tensor(borrowing:): shape \(shape) of \(dtype) needs \(needed) bytes, but the buffer has \(buffer.count)")
        guard let base = buffer.baseAddress else {
            emberPrecondition(needed == 0, "Tensor(borrowing:): nil buffer")
            let storage = TensorStorage(byteCount: 0)
            self.init(storage: storage, layout: Layout(contiguous: shape), dtype: dtype)
            deallocator(buffer)
            return
        }
        emberPrecondition(Int(bitPattern: base) % dtype.byteSize == 0,
                          "Tensor(borrowing:): the buffer is not aligned for \(dtype) (\(dtype.byteSize)-byte alignment needed)")
        let storage = TensorStorage(borrowing: base, byteCount: buffer.count) { _ in deallocator(buffer) }
        self.init(storage: storage, layout: Layout(contiguous: shape), dtype: dtype)
    }

    private func checkBufferAccess<T: TensorElement>(_ type: T.Type, _ op: String) {
        emberPrecondition(isContiguous,
                          "\(op): the tensor is not contiguous (shape \(shape), strides \(strides)); call .contiguous() first")
        emberPrecondition(dtype == T.dtype, "\(op): the tensor holds \(dtype), not \(T.self) (\(T.dtype)); convert with .to(.\(T.dtype))")
    }

    /// Calls `body` with the elements of this contiguous tensor, in row-major order, without a
    /// copy. Stops with a message if the tensor is not contiguous or `T` is not its dtype.
    ///
    ///     let total = x.withUnsafeBufferPointer(as: Float.self) { $0.reduce(0, +) }
    public func withUnsafeBufferPointer<T: TensorElement, R>(as type: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R) rethrows -> R {
        checkBufferAccess(type, "withUnsafeBufferPointer")
        return try withExtendedLifetime(self) {
            try body(UnsafeBufferPointer(start: baseAddress.assumingMemoryBound(to: T.self), count: count))
        }
    }

    /// Calls `body` with writable access to the elements of this contiguous tensor. Writes are
    /// seen by every view of the storage; the storage's version is bumped, so autograd notices
    /// a saved tensor being changed.
    ///
    ///     x.withUnsafeMutableBufferPointer(as: Float.self) { $0[0] = 42 }
    public func withUnsafeMutableBufferPointer<T: TensorElement, R>(as type: T.Type, _ body: (UnsafeMutableBufferPointer<T>) throws -> R) rethrows -> R {
        checkBufferAccess(type, "withUnsafeMutableBufferPointer")
        storage.bumpVersion()
        return try withExtendedLifetime(self) {
            try body(UnsafeMutableBufferPointer(start: baseAddress.assumingMemoryBound(to: T.self), count: count))
        }
    }
}

extension Array where Element: TensorElement {
    /// The elements of `tensor` in row-major order, converted to `Element`.
    ///
    ///     let values = [Float](Tensor.ones([2, 2]))   // [1, 1, 1, 1]
    public init(_ tensor: Tensor) {
        self = tensor.scalars(as: Element.self)
    }
}
