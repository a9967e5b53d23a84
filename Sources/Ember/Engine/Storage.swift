import CEmberKernels
import EmberKernels

/// A block of memory that one or more tensors view.
///
/// Views (reshape, transpose, slices, expand) share one storage and differ only in their
/// `Layout`. The storage counts in-place writes in `version`, so that autograd can tell when
/// a tensor it saved for backward was modified afterwards.
///
/// Concurrency: the buffer is not synchronised. Reading a storage from several threads is
/// safe; writing it while another thread reads or writes it is a data race, exactly as in
/// PyTorch. Kernels that split work across threads write disjoint ranges.
public final class TensorStorage: @unchecked Sendable {
    /// Start of the buffer.
    public let pointer: UnsafeMutableRawPointer
    /// Size of the buffer in bytes.
    public let byteCount: Int
    /// Incremented by every in-place operation that writes through any view of this storage.
    @exclusivity(unchecked) public internal(set) var version = 0

    private enum Owner {
        case cachingAllocator
        case custom((UnsafeMutableRawPointer) -> Void)
    }
    private let owner: Owner

    /// How many storages `body` allocates from the caching allocator on the calling thread
    /// (what `compile`'s tests and benchmarks report per call).
    ///
    ///     let count = TensorStorage.countingAllocations { _ = f(x) }.allocations
    public static func countingAllocations<T>(_ body: () throws -> T) rethrows -> (result: T, allocations: Int) {
        let state = ThreadState.current
        let before = state.allocations
        _ = ember_atomic_add(&countingThreads, 1)
        defer { _ = ember_atomic_add(&countingThreads, -1) }
        let result = try body()
        return (result, state.allocations - before)
    }
    /// How many threads are counting; zero on every op's path but while one is.
    @exclusivity(unchecked) nonisolated(unsafe) static var countingThreads: Int64 = 0

    /// Allocates uninitialised storage for `byteCount` bytes from the caching allocator.
    init(byteCount: Int) {
        if TensorStorage.countingThreads != 0 { ThreadState.current.allocations &+= 1 }
        self.byteCount = byteCount
        self.pointer = CachingAllocator.shared.allocate(bytes: byteCount)
        self.owner = .cachingAllocator
        if Tracing.isActive { Tracing.noteStorageCreated(self) }
    }

    /// Wraps memory the caller owns; `deallocator` runs when the last view goes away.
    init(borrowing pointer: UnsafeMutableRawPointer, byteCount: Int,
         deallocator: @escaping (UnsafeMutableRawPointer) -> Void) {
        self.pointer = pointer
        self.byteCount = byteCount
        self.owner = .custom(deallocator)
        if Tracing.isActive { Tracing.noteStorageCreated(self) }
    }

    deinit {
        switch owner {
        case .cachingAllocator: CachingAllocator.shared.deallocate(pointer, bytes: byteCount)
        case .custom(let deallocator): deallocator(pointer)
        }
    }

    func bumpVersion() {
        version &+= 1
        if Tracing.isActive { Tracing.noteInPlaceWrite() }
    }
}
