import CEmberKernels

/// Packed panels of one B matrix, kept between products that multiply by the same B — a
/// compiled plan's weights — so that the blocked GEMM reads each panel from here instead of
/// packing it again at every call. Panels are keyed by where they start in B and their size,
/// so the threads of one call (each with its own columns) and later calls find their own.
/// Whoever owns the cache clears it when B's contents change (`removeAll()`).
///
///     let panels = PackedPanels()
///     GEMM.multiply(m: 64, n: 256, k: 784, alpha: 1, a: x, aRowStride: 784, aColumnStride: 1,
///                   b: w, bRowStride: 1, bColumnStride: 784, beta: 0, c: y, cRowStride: 256,
///                   packedPanels: panels)   // packs B once; the next call reuses it
public final class PackedPanels: @unchecked Sendable {
    // Invariant: `panels` is read and written only under `lock`; a panel's memory is written
    // once, before it is published, and only read afterwards.
    private struct Key: Hashable {
        let address: UInt, depth: Int, width: Int, rowStride: Int, columnStride: Int, nr: Int32, kc: Int32
    }
    private var panels: [Key: (pointer: UnsafeMutableRawPointer, bytes: Int)] = [:]
    private var lock: Int64 = 0

    public init() {}

    deinit { removeAll() }

    /// How many panels are held.
    public var count: Int {
        ember_spin_lock(&lock)
        defer { ember_spin_unlock(&lock) }
        return panels.count
    }

    /// Frees every panel (B changed).
    public func removeAll() {
        ember_spin_lock(&lock)
        let freed = panels.values
        panels.removeAll()
        ember_spin_unlock(&lock)
        for panel in freed { CachingAllocator.shared.deallocate(panel.pointer, bytes: panel.bytes) }
    }

    /// The packed panel of B's `depth` x `width` block at `b`, packing it with `pack` the first time.
    func panel<Scalar>(_ b: UnsafePointer<Scalar>, depth: Int, width: Int, rowStride: Int, columnStride: Int,
                       config: ember_gemm_config, bytes: Int,
                       pack: (UnsafeMutablePointer<Scalar>) -> Void) -> UnsafePointer<Scalar> {
        let key = Key(address: UInt(bitPattern: b), depth: depth, width: width, rowStride: rowStride,
                      columnStride: columnStride, nr: config.nr, kc: config.kc)
        ember_spin_lock(&lock)
        let existing = panels[key]
        ember_spin_unlock(&lock)
        if let existing { return UnsafePointer(existing.pointer.assumingMemoryBound(to: Scalar.self)) }
        let pointer = CachingAllocator.shared.allocate(bytes: bytes)
        let typed = pointer.bindMemory(to: Scalar.self, capacity: bytes / MemoryLayout<Scalar>.stride)
        pack(typed)
        ember_spin_lock(&lock)
        if let raced = panels[key] {
            ember_spin_unlock(&lock)
            CachingAllocator.shared.deallocate(pointer, bytes: bytes)
            return UnsafePointer(raced.pointer.assumingMemoryBound(to: Scalar.self))
        }
        panels[key] = (pointer, bytes)
        ember_spin_unlock(&lock)
        return UnsafePointer(typed)
    }
}
