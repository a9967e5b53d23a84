import CEmberKernels
import Dispatch
import Testing
@testable import EmberKernels

@Suite("Thread pool", .timeLimit(.minutes(1)))   // a lost wake-up hangs rather than fails
struct ThreadPoolTests {
    /// Runs `calls` jobs of 1...`maxChunks` chunks and checks that every chunk of every job ran
    /// exactly once and had finished when `run` returned. Varying the chunk count is what catches
    /// a late worker running a chunk of the next job with the previous job's count.
    static func checkJobs(calls: Int, maxChunks: Int, seed: Int) -> Int {
        var failures = 0
        let counts = UnsafeMutablePointer<Int64>.allocate(capacity: maxChunks)
        defer { counts.deallocate() }
        for call in 0..<calls {
            let chunks = 1 + (call * 7 + seed) % maxChunks
            counts.initialize(repeating: 0, count: maxChunks)
            WorkerPool.shared.run(chunks: chunks) { chunk in
                // A little work, so that workers overlap with the caller.
                var x = 0.0
                for i in 0..<(chunk * 200) { x += Double(i) }
                if x < 0 { print(x) }
                ember_atomic_add(counts + chunk, 1)
            }
            for chunk in 0..<maxChunks where ember_atomic_load(counts + chunk) != (chunk < chunks ? 1 : 0) {
                failures += 1
            }
        }
        return failures
    }

    @Test("every chunk runs exactly once, with more workers than cores and varying chunk counts")
    func chunksRunOnce() {
        #expect(Self.checkJobs(calls: 3000, maxChunks: 5, seed: 0) == 0)
    }

    @Test("loops from several threads at once fall back to Dispatch, nested loops run inline, no chunk is lost")
    func concurrentAndNestedLoops() {
        let perThread = UnsafeMutablePointer<Int64>.allocate(capacity: 4)
        perThread.initialize(repeating: -1, count: 4)
        defer { perThread.deallocate() }
        let address = Int(bitPattern: perThread)
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            let slot = UnsafeMutablePointer<Int64>(bitPattern: address)! + thread
            slot.pointee = Int64(Self.checkJobs(calls: 500, maxChunks: 4, seed: thread))
        }
        #expect((0..<4).map { perThread[$0] } == [0, 0, 0, 0])

        // A loop inside a chunk runs inline: one call with the whole range, on every chunk.
        let counters = UnsafeMutablePointer<Int64>.allocate(capacity: 2)
        counters.initialize(repeating: 0, count: 2)
        defer { counters.deallocate() }
        WorkerPool.shared.run(chunks: 3) { _ in
            ParallelLoop.run(count: 1000, grain: 1) { range in
                ember_atomic_add(counters, Int64(range.count))
                ember_atomic_add(counters + 1, 1)
            }
        }
        #expect(ember_atomic_load(counters) == 3000)
        #expect(ember_atomic_load(counters + 1) == 3)
        #expect(ember_parallel_region_depth() == 0)
    }

    @Test("ParallelLoop covers the range once, in at most min(threads, count / grain) chunks")
    func parallelLoopCoversRange() {
        for (count, grain) in [(0, 1), (1, 1), (10, 3), (1000, 1), (100_000, 65_536), (7, 100)] {
            let seen = UnsafeMutablePointer<Int64>.allocate(capacity: max(count, 1) + 1)
            seen.initialize(repeating: 0, count: max(count, 1) + 1)
            let chunkCount = seen + max(count, 1)
            ParallelLoop.run(count: count, grain: grain) { range in
                ember_atomic_add(chunkCount, 1)
                for i in range { ember_atomic_add(seen + i, 1) }
            }
            #expect((0..<count).allSatisfy { seen[$0] == 1 }, "count \(count) grain \(grain)")
            let limit = min(ParallelLoop.threadCount, (count + grain - 1) / grain)
            #expect(chunkCount.pointee <= Int64(limit), "count \(count) grain \(grain)")
            seen.deallocate()
        }
    }

    @Test("runBalanced covers the range once in contiguous pieces, inline when small or nested")
    func balancedLoopCoversRange() {
        for (count, grain, piece) in [(0, 1, 1), (1, 1, 1), (10, 1, 3), (1000, 1, 2), (1001, 4, 7), (7, 100, 1), (5, 1, 9)] {
            let seen = UnsafeMutablePointer<Int64>.allocate(capacity: max(count, 1) + 1)
            seen.initialize(repeating: 0, count: max(count, 1) + 1)
            let pieces = seen + max(count, 1)
            ParallelLoop.runBalanced(count: count, grain: grain, piece: piece) { range in
                ember_atomic_add(pieces, 1)
                for i in range { ember_atomic_add(seen + i, 1) }
            }
            #expect((0..<count).allSatisfy { seen[$0] == 1 }, "count \(count) grain \(grain) piece \(piece)")
            // At least ⌈count / piece⌉ pieces when the loop is split, one when it runs inline.
            let split = ParallelLoop.threadCount > 1 && count > grain && count > piece
            let expected = split ? Int64((count + piece - 1) / piece) : Int64(count > 0 ? 1 : 0)
            #expect(pieces.pointee == expected, "count \(count) grain \(grain) piece \(piece)")
            seen.deallocate()
        }
        // Nested inside another loop's chunk: runs inline, as one piece.
        let nested = UnsafeMutablePointer<Int64>.allocate(capacity: 2)
        nested.initialize(repeating: 0, count: 2)
        ParallelLoop.run(count: 2, grain: 1) { outer in
            for o in outer {
                ParallelLoop.runBalanced(count: 100, grain: 1, piece: 1) { _ in ember_atomic_add(nested + o, 1) }
            }
        }
        if ParallelLoop.threadCount > 1 {
            #expect(nested[0] == 1 && nested[1] == 1)
        }
        nested.deallocate()
    }
}
