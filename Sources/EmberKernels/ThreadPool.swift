import Dispatch

/// Splits loops across cores. Work runs on Dispatch's pool; a loop smaller than its grain
/// runs inline on the calling thread so that tiny tensors pay nothing for threading.
///
/// Rejected alternative: a hand-written pthread pool. `concurrentPerform` already keeps one
/// worker per core and costs a few microseconds per call, far below the grain sizes used here.
public enum ParallelLoop {
    nonisolated(unsafe) private static var configuredThreads = ProcessInfoLite.activeProcessorCount

    /// Threads that large kernels use; defaults to the number of cores.
    public static var threadCount: Int {
        get { configuredThreads }
        set { configuredThreads = max(1, newValue) }
    }

    /// Calls `body` on disjoint chunks covering `0..<count`, in parallel when the work
    /// exceeds `grain` items per thread. Chunks are contiguous and at least `grain` long.
    ///
    ///     ParallelLoop.run(count: n, grain: 32_768) { range in kernel(range) }
    @inlinable
    public static func run(count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
        let threads = threadCount
        if threads <= 1 || count <= grain {
            if count > 0 { body(0..<count) }
            return
        }
        let chunks = min(threads, (count + grain - 1) / grain)
        if chunks <= 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UnsafeSendableClosure(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let start = count * chunk / chunks
                let end = count * (chunk + 1) / chunks
                box.body(start..<end)
            }
        }
    }
}

/// Carries a non-Sendable closure into `concurrentPerform`. Safe because each chunk works on a
/// disjoint range and the call does not return before every chunk has finished.
@usableFromInline
struct UnsafeSendableClosure: @unchecked Sendable {
    @usableFromInline let body: (Range<Int>) -> Void
    @usableFromInline init(_ body: @escaping (Range<Int>) -> Void) { self.body = body }
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
