import CEmberKernels
import Dispatch

/// Splits loops across cores. A loop smaller than its grain runs inline on the calling thread,
/// so tiny tensors pay nothing for threading; larger ones run chunk 0 on the caller and chunk
/// `c` on worker `c` of `WorkerPool.shared`. A loop started inside a chunk of another (a GEMM
/// inside a per-image convolution chunk) runs inline, as OpenMP does by default: the cores are
/// already busy with the outer loop.
public enum ParallelLoop {
    nonisolated(unsafe) private static var configuredThreads = ProcessInfoLite.activeProcessorCount

    /// Threads that large kernels use; defaults to the number of cores.
    public static var threadCount: Int {
        get { configuredThreads }
        set { configuredThreads = max(1, newValue) }
    }

    /// Calls `body` on disjoint chunks covering `0..<count`, in parallel when the work
    /// exceeds `grain` items. Chunks are contiguous, of near-equal length, and there are at most
    /// `threadCount` of them and at most ⌈count / grain⌉.
    ///
    ///     ParallelLoop.run(count: n, grain: 32_768) { range in kernel(range) }
    @inlinable
    public static func run(count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
        let chunks = chunkCount(count: count, grain: grain)
        if chunks <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        withoutActuallyEscaping(body) { body in
            WorkerPool.shared.run(chunks: chunks) { chunk in
                body(count * chunk / chunks..<count * (chunk + 1) / chunks)
            }
        }
    }
}

extension ParallelLoop {
    /// `run`, but `0..<count` is handed out in pieces of `piece` items to whichever thread asks
    /// next, rather than in one fixed chunk per thread. For loops of many independent items of
    /// similar cost (a convolution's output rows): when another process takes part of one core,
    /// as it often does on a shared VM, that core simply takes fewer pieces, where a fixed split
    /// makes the whole loop wait for its slowest chunk. The price is one atomic add per piece and
    /// pieces landing on any thread, so it does not suit loops whose chunks should find their
    /// data in the same core's cache from one call to the next (`run` keeps that affinity).
    /// Pieces are contiguous ranges; together they cover `0..<count` exactly once.
    ///
    ///     ParallelLoop.runBalanced(count: rows, grain: 1, piece: 2) { range in convolve(range) }
    ///
    /// Measured on the 2-core VM, 10 alternating runs, median of the runs' medians, two threads:
    /// a 64 → 64 channel convolution at 56x56 17.3 → 15.6 ms, 3 → 64 at 224x224 1.82 → 1.62 ms
    /// (fastest runs unchanged).
    public static func runBalanced(count: Int, grain: Int, piece: Int, _ body: (Range<Int>) -> Void) {
        let chunks = chunkCount(count: count, grain: grain), piece = max(1, piece)
        if chunks <= 1 || count <= piece {
            if count > 0 { body(0..<count) }
            return
        }
        withUnsafeTemporaryAllocation(of: Int64.self, capacity: 1) { next in
            let counter = next.baseAddress!
            counter.initialize(to: 0)
            withoutActuallyEscaping(body) { body in
                WorkerPool.shared.run(chunks: chunks) { _ in
                    while true {
                        let end = Int(ember_atomic_add(counter, Int64(piece)))
                        let start = end - piece
                        if start >= count { break }
                        body(start..<min(end, count))
                    }
                }
            }
        }
    }
}

extension ParallelLoop {
    /// Threads a loop of `count` items with this grain runs on: 1 (inline) with one thread, at or
    /// below the grain, or inside another loop's chunk; otherwise at most `threadCount` and
    /// ⌈count / grain⌉.
    @usableFromInline
    static func chunkCount(count: Int, grain: Int) -> Int {
        let threads = threadCount
        if threads <= 1 || count <= grain || ember_parallel_region_depth() > 0 { return 1 }
        return min(threads, (count + grain - 1) / grain)
    }
}

/// Persistent worker threads for `ParallelLoop`.
///
/// Why not `DispatchQueue.concurrentPerform` (used before): Dispatch wakes a worker per call
/// (about 11 µs median on the 2-core VM, with spikes) and hands chunks to whichever thread asks
/// first, so a chunk lands on a different core from one call to the next and its data is cold
/// there. Here worker `c` always runs chunk `c` (the caller runs chunk 0), and an idle worker
/// spins for `spinNanoseconds` before it sleeps, so back-to-back loops (a training step's ops)
/// start in well under a microsecond, as OpenMP's spinning workers do for PyTorch.
///
/// One loop at a time owns the pool. A loop started while it is busy from another thread runs
/// on Dispatch instead, so concurrent callers never wait on each other and never deadlock
/// (loops nested inside a chunk never get here: `ParallelLoop.run` runs them inline).
@usableFromInline
final class WorkerPool: @unchecked Sendable {
    @usableFromInline static let shared = WorkerPool()

    /// How long an idle worker spins before sleeping: long enough to bridge the gap between
    /// the ops of a step, short enough not to steal a core from other processes for long.
    static let spinNanoseconds: UInt64 = 200_000

    /// Atomic words (C `__atomic` operations), each on its own cache line: [0] the job word,
    /// `sequence << 16 | chunks`, stored once per job; [8] workers still running the job; [16]
    /// 1 while a caller owns the pool. The chunk count travels in the job word so that a worker
    /// that wakes late reads the count of the job it woke for, never a later one's.
    private let words: UnsafeMutablePointer<Int64>
    private var jobWord: UnsafeMutablePointer<Int64> { words }
    private var remaining: UnsafeMutablePointer<Int64> { words + 8 }
    private var owned: UnsafeMutablePointer<Int64> { words + 16 }
    private static let chunkBits: Int64 = 16

    /// The job's closure: written by the owner before it stores the job word, read by the
    /// workers that have a chunk in it, which the owner waits for before the next job.
    @exclusivity(unchecked) private var body: UnsafeSendableChunkBody?

    /// Sleeping workers wait on `wakeUp` under `mutex`.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wakeUp = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var sleepers = 0
    /// Workers started so far (worker indices 1...workerCount); only the owner starts more.
    private var workerCount = 0

    private init() {
        words = .allocate(capacity: 24)
        words.initialize(repeating: 0, count: 24)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wakeUp, nil)
    }

    /// Runs `body(c)` for every `c` in `0..<chunks`, chunk 0 on the calling thread, and returns
    /// when all have finished.
    @usableFromInline
    func run(chunks: Int, _ body: @escaping (Int) -> Void) {
        // Take the pool, or fall back to Dispatch when another loop has it.
        guard ember_atomic_add(owned, 1) == 1 else {
            ember_atomic_add(owned, -1)
            let box = UnsafeSendableChunkBody(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                ember_parallel_region_enter()
                box.body(chunk)
                ember_parallel_region_leave()
            }
            return
        }
        precondition(chunks < 1 << Self.chunkBits, "ParallelLoop: too many chunks (\(chunks))")
        while workerCount < chunks - 1 { startWorker(index: workerCount + 1) }
        self.body = UnsafeSendableChunkBody(body)
        ember_atomic_store(remaining, Int64(chunks - 1))
        let sequence = (ember_atomic_load(jobWord) >> Self.chunkBits) + 1
        ember_atomic_store(jobWord, sequence << Self.chunkBits | Int64(chunks))
        pthread_mutex_lock(mutex)
        if sleepers > 0 { pthread_cond_broadcast(wakeUp) }
        pthread_mutex_unlock(mutex)

        ember_parallel_region_enter()
        body(0)
        ember_parallel_region_leave()
        var spins = 0
        while ember_atomic_load(remaining) > 0 {
            // A worker that lost its core (another process) may take a while: let it have ours.
            spins += 1
            if spins < 100_000 { ember_spin_pause() } else { sched_yield() }
        }
        self.body = nil
        ember_atomic_add(owned, -1)
    }

    private func startWorker(index: Int) {
        // The worker waits for the job after the current one, even if it starts running only
        // after the owner has published that job (reading the word itself then would skip it).
        let context = Unmanaged.passRetained(
            WorkerContext(pool: self, index: index, lastSeenJob: ember_atomic_load(jobWord))).toOpaque()
        // pthread_t is an integer on Linux and an optional pointer on Darwin.
        #if canImport(Darwin)
        var thread: pthread_t?
        #else
        var thread = pthread_t()
        #endif
        let started = pthread_create(&thread, nil, { raw in
            let argument: UnsafeMutableRawPointer? = raw   // optional on Linux, not on Darwin
            let context = Unmanaged<WorkerContext>.fromOpaque(argument!).takeRetainedValue()
            context.pool.workerLoop(index: context.index, lastSeenJob: context.lastSeenJob)
        }, context)
        precondition(started == 0, "Ember: cannot start a worker thread (pthread_create: \(started))")
        #if canImport(Darwin)
        pthread_detach(thread!)
        #else
        pthread_detach(thread)
        #endif
        workerCount = index
    }

    /// Waits for each new job and runs its chunk, if the job has one for this worker.
    private func workerLoop(index: Int, lastSeenJob: Int64) -> Never {
        ember_parallel_region_enter()   // a worker only ever runs chunks
        var seen = lastSeenJob
        while true {
            seen = waitForJob(after: seen)
            let chunks = Int(seen & (1 << Self.chunkBits - 1))
            if index < chunks {
                runChunk(index)
                ember_atomic_add(remaining, -1)
            }
        }
    }

    /// Runs one chunk of the current job. Not inlined, so that every reference this thread took
    /// to the job's closure is released before the owner learns the chunk is done: the owner's
    /// closure is non-escaping (`withoutActuallyEscaping`), and Swift checks that on return.
    @inline(never)
    private func runChunk(_ index: Int) {
        body?.body(index)
    }

    /// Spins, then sleeps, until the job word moves past `seen`; returns the new job word.
    private func waitForJob(after seen: Int64) -> Int64 {
        let spinUntil = DispatchTime.now().uptimeNanoseconds + Self.spinNanoseconds
        var spins = 0
        while true {
            let current = ember_atomic_load(jobWord)
            if current != seen { return current }
            spins += 1
            if spins & 255 != 0 {
                ember_spin_pause()
                continue
            }
            if DispatchTime.now().uptimeNanoseconds < spinUntil { continue }
            pthread_mutex_lock(mutex)
            sleepers += 1
            while ember_atomic_load(jobWord) == seen { pthread_cond_wait(wakeUp, mutex) }
            sleepers -= 1
            pthread_mutex_unlock(mutex)
        }
    }
}

/// What a worker thread starts with.
private final class WorkerContext {
    let pool: WorkerPool
    let index: Int
    let lastSeenJob: Int64
    init(pool: WorkerPool, index: Int, lastSeenJob: Int64) {
        self.pool = pool
        self.index = index
        self.lastSeenJob = lastSeenJob
    }
}

/// Carries a non-Sendable chunk closure to the workers. Safe because each chunk works on a
/// disjoint range and the call does not return before every chunk has finished.
struct UnsafeSendableChunkBody: @unchecked Sendable {
    let body: (Int) -> Void
    init(_ body: @escaping (Int) -> Void) { self.body = body }
}

/// The number of cores, read without Foundation so that the kernel layer stays small.
enum ProcessInfoLite {
    static var activeProcessorCount: Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
