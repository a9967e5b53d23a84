import CEmberKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reuses freed tensor buffers instead of returning them to the system.
///
/// Why: in this VM every fresh page costs about a microsecond to fault in, and glibc hands
/// large blocks straight back to the OS, so an elementwise op over 10M floats spent most of its
/// time faulting in a new 40 MB output. Buffers are grouped in size classes (64-byte steps up
/// to 4 KiB, then four classes per power of two) and a freed buffer waits in its class's free
/// list for the next request of that class. The cache holds at most `limitBytes`; beyond that,
/// freed buffers go back to the system.
///
/// Buffers of `hugePageBytes` or more are aligned to 2 MiB and, on Linux, marked for transparent
/// huge pages (`madvise(MADV_HUGEPAGE)`; the kernel's default setting, "madvise", only gives
/// them to regions that ask). Why: the hardware prefetcher stops at each 4 KiB page boundary
/// and every page needs its own TLB entry, so streaming over a 40 MB tensor in 4 KiB pages ran
/// at 15–17 GB/s here; in 2 MiB pages the same loop ran at 21 GB/s on one core and 31 GB/s on
/// two (a full sum over 10M floats: 2.3 → 1.3 ms).
public final class CachingAllocator: @unchecked Sendable {
    /// The process-wide allocator used by tensor storage.
    public static let shared = CachingAllocator()

    /// Every buffer is aligned for AVX-512 loads.
    public static let alignment = 64

    /// Buffers this large or larger start on a 2 MiB boundary and ask for huge pages.
    public static let hugePageBytes = 2 << 20

    /// Free buffers of each size class, as intrusive singly linked lists: a cached buffer's first
    /// eight bytes hold the address of the next one (every buffer holds at least 64 bytes). Why
    /// not an array per class: taking and giving back a buffer happens twice per op, and the
    /// arrays' uniqueness checks and bounds checks showed in the profile of a one-element add.
    private let freeLists: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    // Guarded by `lock`, so Swift's dynamic exclusivity checks are redundant here.
    @exclusivity(unchecked) private var cachedBytes = 0
    /// A spin lock (C atomics): the critical sections are a few loads and stores, and an
    /// uncontended pthread mutex cost as much as the rest of the allocation.
    private let lock: UnsafeMutablePointer<Int64>

    /// Upper bound on bytes kept for reuse (default 2 GiB). Read on every free without a dynamic
    /// exclusivity check (it showed in the profile of a one-element add); set it before use.
    @exclusivity(unchecked) public var limitBytes = 2 << 30

    private static let smallStep = 64
    private static let smallLimit = 4096
    private static let smallClasses = smallLimit / smallStep
    private static let classCount = smallClasses + 4 * 64

    public init() {
        freeLists = .allocate(capacity: Self.classCount)
        freeLists.initialize(repeating: nil, count: Self.classCount)
        lock = .allocate(capacity: 1)
        lock.initialize(to: 0)
    }

    /// The size class of a request and the bytes a buffer of that class holds.
    @inline(__always)
    static func sizeClass(of bytes: Int) -> (index: Int, capacity: Int) {
        let bytes = max(bytes, 1)
        if bytes <= smallLimit {
            let steps = (bytes + smallStep - 1) / smallStep
            return (steps - 1, steps * smallStep)
        }
        // Four classes per power of two keep the waste under 25%.
        let highBit = Int.bitWidth - 1 - (bytes - 1).leadingZeroBitCount
        let quarter = 1 << (highBit - 2)
        let quarters = (bytes + quarter - 1) / quarter   // 5...8
        return (smallClasses + (highBit - 12) * 4 + (quarters - 5), quarters * quarter)
    }

    /// Returns a 64-byte aligned buffer of at least `bytes` bytes (uninitialised).
    public func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        let (index, capacity) = Self.sizeClass(of: bytes)
        ember_spin_lock(lock)
        if let reused = freeLists[index] {
            freeLists[index] = reused.load(as: UnsafeMutableRawPointer?.self)
            cachedBytes -= capacity
            ember_spin_unlock(lock)
            return reused
        }
        ember_spin_unlock(lock)
        let huge = capacity >= Self.hugePageBytes
        var pointer: UnsafeMutableRawPointer?
        guard posix_memalign(&pointer, huge ? Self.hugePageBytes : Self.alignment, capacity) == 0,
              let pointer else {
            fatalError("Ember: out of memory allocating \(capacity) bytes for a tensor")
        }
        #if os(Linux)
        // Advice only: a kernel with huge pages off ignores it, and the buffer works either way.
        if huge { _ = madvise(pointer, capacity, MADV_HUGEPAGE) }
        #endif
        return pointer
    }

    /// Gives a buffer from `allocate(bytes:)` back, with the same byte count.
    public func deallocate(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        let (index, capacity) = Self.sizeClass(of: bytes)
        ember_spin_lock(lock)
        if cachedBytes + capacity <= limitBytes {
            pointer.storeBytes(of: freeLists[index], as: UnsafeMutableRawPointer?.self)
            freeLists[index] = pointer
            cachedBytes += capacity
            ember_spin_unlock(lock)
            return
        }
        ember_spin_unlock(lock)
        free(pointer)
    }

    /// Returns every cached buffer to the system.
    public func emptyCache() {
        var chains: [UnsafeMutableRawPointer] = []
        ember_spin_lock(lock)
        for index in 0..<Self.classCount {
            if let head = freeLists[index] { chains.append(head) }
            freeLists[index] = nil
        }
        cachedBytes = 0
        ember_spin_unlock(lock)
        for head in chains {
            var next: UnsafeMutableRawPointer? = head
            while let pointer = next {
                next = pointer.load(as: UnsafeMutableRawPointer?.self)
                free(pointer)
            }
        }
    }

    /// Bytes currently held for reuse.
    public var cachedByteCount: Int {
        ember_spin_lock(lock)
        defer { ember_spin_unlock(lock) }
        return cachedBytes
    }
}
