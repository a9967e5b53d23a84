import EmberKernels

/// Sets how many threads large kernels use (defaults to the number of cores).
///
///     Ember.setNumThreads(1)
public func setNumThreads(_ count: Int) {
    ParallelLoop.threadCount = count
    PlatformBLAS.active?.setThreadCount(ParallelLoop.threadCount)
}

/// The number of threads large kernels use.
public func numThreads() -> Int { ParallelLoop.threadCount }
