#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Per-thread autograd switches. Grad mode is thread-local as in PyTorch, so a data-loader
/// worker in `withNoGrad` does not turn off recording in the training loop.
final class ThreadState {
    // Only the owning thread touches its state, so dynamic exclusivity checks are skipped.
    @exclusivity(unchecked) var gradEnabled = true
    /// Objects whose release was deferred while another release was in progress (see `Node`).
    @exclusivity(unchecked) var pendingReleases: [Any] = []
    @exclusivity(unchecked) var isDrainingReleases = false
    /// The trace `compile` is recording on this thread, if any (see `Tracing`).
    @exclusivity(unchecked) var tracer: TraceContext?
    /// Storages allocated on this thread while `TensorStorage.countingAllocations` runs.
    @exclusivity(unchecked) var allocations = 0

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            guard let pointer else { return }
            Unmanaged<ThreadState>.fromOpaque(pointer).release()
        }
        return key
    }()

    /// The calling thread's state, created on first use.
    @inline(__always)
    static var current: ThreadState {
        if let pointer = pthread_getspecific(key) {
            return Unmanaged<ThreadState>.fromOpaque(pointer).takeUnretainedValue()
        }
        let state = ThreadState()
        pthread_setspecific(key, Unmanaged.passRetained(state).toOpaque())
        return state
    }
}

/// Process-wide anomaly detection switch; reading it is one load when off.
enum AnomalyMode {
    nonisolated(unsafe) static var isEnabled = false
}

/// True when operations on this thread record autograd history.
public var isGradEnabled: Bool { ThreadState.current.gradEnabled }

/// Runs `body` without recording autograd history (PyTorch's `torch.no_grad()`).
/// Inference inside it allocates nothing for the graph.
///
///     let prediction = withNoGrad { model(x) }
@discardableResult
public func withNoGrad<T>(_ body: () throws -> T) rethrows -> T {
    try withGradMode(false, body)
}

/// Runs `body` with recording switched on, even inside `withNoGrad`.
@discardableResult
public func withGrad<T>(_ body: () throws -> T) rethrows -> T {
    try withGradMode(true, body)
}

/// Runs `body` with grad mode set to `enabled`, restoring the previous mode afterwards.
@discardableResult
public func withGradMode<T>(_ enabled: Bool, _ body: () throws -> T) rethrows -> T {
    let state = ThreadState.current
    let previous = state.gradEnabled
    state.gradEnabled = enabled
    defer { state.gradEnabled = previous }
    return try body()
}

/// Internal shorthand for kernels that must not record (e.g. reading values for printing).
@inline(__always)
func withoutGrad<T>(_ body: () -> T) -> T { withGradMode(false, body) }

/// Turns anomaly detection on or off for the process. When on, every recorded node keeps the
/// Swift source location of the call that created it, and a NaN or infinity produced in
/// backward stops with the name of that forward operation and its location.
///
///     setAnomalyDetection(true)
public func setAnomalyDetection(_ enabled: Bool) { AnomalyMode.isEnabled = enabled }

/// Runs `body` with anomaly detection on.
@discardableResult
public func withAnomalyDetection<T>(_ body: () throws -> T) rethrows -> T {
    let previous = AnomalyMode.isEnabled
    AnomalyMode.isEnabled = true
    defer { AnomalyMode.isEnabled = previous }
    return try body()
}
