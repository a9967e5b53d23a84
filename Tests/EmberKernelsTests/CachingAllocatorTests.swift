import Dispatch
import Testing
@testable import EmberKernels

/// Each test makes its own allocator, so nothing here depends on what the rest of the suite has
/// cached in `CachingAllocator.shared`.
@Suite("Caching allocator", .timeLimit(.minutes(1)))
struct CachingAllocatorTests {
    @Test("size classes: 64-byte steps up to 4 KiB, then four per power of two, never short")
    func sizeClasses() {
        #expect(CachingAllocator.sizeClass(of: 0) == (0, 64))
        #expect(CachingAllocator.sizeClass(of: 1) == (0, 64))
        #expect(CachingAllocator.sizeClass(of: 64) == (0, 64))
        #expect(CachingAllocator.sizeClass(of: 65) == (1, 128))
        #expect(CachingAllocator.sizeClass(of: 4096) == (63, 4096))
        #expect(CachingAllocator.sizeClass(of: 4097) == (64, 5120))
        var previous = (index: -1, capacity: 0)
        for bytes in stride(from: 1, through: 1 << 26, by: 997) {
            let sizeClass = CachingAllocator.sizeClass(of: bytes)
            #expect(sizeClass.capacity >= bytes)
            if bytes > 4096 { #expect(Double(sizeClass.capacity) < 1.25 * Double(bytes)) }
            // A class holds one capacity: the index and the capacity rise together.
            #expect(sizeClass.index >= previous.index)
            #expect((sizeClass.index == previous.index) == (sizeClass.capacity == previous.capacity))
            previous = sizeClass
        }
    }

    @Test("a freed buffer is handed out again for a request of its class, last freed first")
    func reuse() {
        let allocator = CachingAllocator()
        let a = allocator.allocate(bytes: 100), b = allocator.allocate(bytes: 128), c = allocator.allocate(bytes: 129)
        #expect(Set([a, b, c]).count == 3)
        #expect(allocator.cachedByteCount == 0)
        allocator.deallocate(a, bytes: 100)
        allocator.deallocate(b, bytes: 128)
        allocator.deallocate(c, bytes: 129)
        #expect(allocator.cachedByteCount == 128 + 128 + 192)
        #expect(allocator.allocate(bytes: 65) == b)
        #expect(allocator.allocate(bytes: 120) == a)
        #expect(allocator.allocate(bytes: 150) == c)
        #expect(allocator.cachedByteCount == 0)
        // The class is empty again: a new request gets a new buffer.
        let d = allocator.allocate(bytes: 128)
        #expect(![a, b, c].contains(d))
        for (pointer, bytes) in [(a, 100), (b, 128), (c, 129), (d, 128)] { allocator.deallocate(pointer, bytes: bytes) }
        allocator.emptyCache()
        #expect(allocator.cachedByteCount == 0)
    }

    @Test("buffers are 64-byte aligned, and 2 MiB aligned from 2 MiB up; all of a buffer is usable")
    func alignmentAndContents() {
        let allocator = CachingAllocator()
        for bytes in [1, 63, 64, 1000, 4097, 100_000, CachingAllocator.hugePageBytes, 5 << 20] {
            let pointer = allocator.allocate(bytes: bytes)
            let alignment = bytes >= CachingAllocator.hugePageBytes ? CachingAllocator.hugePageBytes : CachingAllocator.alignment
            #expect(Int(bitPattern: pointer) % alignment == 0, "\(bytes) bytes")
            // Fill, free (the free list writes into the buffer), take back, fill and check again.
            let capacity = CachingAllocator.sizeClass(of: bytes).capacity
            pointer.initializeMemory(as: UInt8.self, repeating: 0xA5, count: capacity)
            allocator.deallocate(pointer, bytes: bytes)
            let again = allocator.allocate(bytes: bytes)
            #expect(again == pointer)
            again.initializeMemory(as: UInt8.self, repeating: 0x5A, count: capacity)
            let bytesRead = UnsafeBufferPointer(start: again.assumingMemoryBound(to: UInt8.self), count: capacity)
            #expect(bytesRead.allSatisfy { $0 == 0x5A })
            allocator.deallocate(again, bytes: bytes)
        }
        allocator.emptyCache()
    }

    @Test("beyond limitBytes freed buffers go back to the system")
    func limit() {
        let allocator = CachingAllocator()
        allocator.limitBytes = 256
        let buffers = (0..<4).map { _ in allocator.allocate(bytes: 128) }
        for buffer in buffers { allocator.deallocate(buffer, bytes: 128) }
        #expect(allocator.cachedByteCount == 256)
        allocator.emptyCache()
        #expect(allocator.cachedByteCount == 0)
    }

    @Test("threads allocating and freeing at once never share a live buffer")
    func concurrentUse() {
        let allocator = CachingAllocator()
        let threads = 4, rounds = 50_000
        let failures = UnsafeMutablePointer<Int>.allocate(capacity: threads)
        failures.initialize(repeating: 0, count: threads)
        defer { failures.deallocate() }
        let failuresAddress = Int(bitPattern: failures)   // a pointer is not Sendable; its address is
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            let failures = UnsafeMutablePointer<Int>(bitPattern: failuresAddress)!
            let mark = UInt64(thread + 1) * 0x0101_0101_0101_0101
            var held: [(UnsafeMutableRawPointer, Int)] = []
            for round in 0..<rounds {
                let bytes = 64 * (1 + (round * 7 + thread) % 5)
                let pointer = allocator.allocate(bytes: bytes)
                pointer.initializeMemory(as: UInt64.self, repeating: mark, count: bytes / 8)
                held.append((pointer, bytes))
                // Free in a different order from allocation, keeping a few buffers live.
                if held.count > 3 {
                    let (victim, victimBytes) = held.remove(at: round % held.count)
                    let words = UnsafeBufferPointer(start: victim.assumingMemoryBound(to: UInt64.self), count: victimBytes / 8)
                    if !words.allSatisfy({ $0 == mark }) { failures[thread] += 1 }
                    allocator.deallocate(victim, bytes: victimBytes)
                }
            }
            for (pointer, bytes) in held { allocator.deallocate(pointer, bytes: bytes) }
        }
        #expect((0..<threads).map { failures[$0] } == Array(repeating: 0, count: threads))
        #expect(allocator.cachedByteCount > 0 && allocator.cachedByteCount % 64 == 0)
        allocator.emptyCache()
        #expect(allocator.cachedByteCount == 0)
    }
}
