import Ember

/// One named thing to time. `prepare` builds the inputs once (not timed) and returns the
/// closure that is timed; `operationsPerCall` lets a closure run a loop of tiny operations
/// (the one-element add) so that the clock's resolution does not dominate, and the figure
/// reported is per operation.
///
/// To add workloads (autograd, nn, models), write a `static var <group>: [Workload]` in a
/// new file of this target and append it to `Workload.all`; bench_torch.py gets a function
/// of the same name so that scripts/bench/compare.py can pair them.
///
///     Workload(name: "exp_10M", group: "elementwise", note: "10M float32") {
///         let x = Tensor.randn([10_000_000])
///         return { _ = x.exp() }
///     }
struct Workload: Sendable {
    /// Unique key shared with bench_torch.py, e.g. "matmul_1024".
    let name: String
    /// Which family it belongs to ("matmul", "elementwise", "overhead", "autograd", "nn").
    let group: String
    /// Floating-point operations per operation, for GFLOP/s (nil when not meaningful).
    let flop: Double?
    /// Operations each call of the timed closure performs.
    let operationsPerCall: Int
    /// One line on what is measured.
    let note: String
    /// Builds the inputs and returns the closure to time.
    let prepare: @Sendable () -> () -> Void

    init(name: String, group: String, flop: Double? = nil, operationsPerCall: Int = 1, note: String,
         prepare: @escaping @Sendable () -> () -> Void) {
        self.name = name
        self.group = group
        self.flop = flop
        self.operationsPerCall = operationsPerCall
        self.note = note
        self.prepare = prepare
    }

    /// Every workload, in report order. Other groups are appended here.
    static var all: [Workload] { matmul + elementwise + overhead + autograd + training + convolution + sequence + compiled + onnx }
}
