import CEmberKernels
import Foundation

/// Compiles `body` into a ``CompiledFunction``: the first call with a new input signature
/// traces it (it runs eagerly, every op recorded into a ``Graph``), optimises the graph, fuses
/// its pointwise chains and plans its memory; later calls with the same signature run the
/// plan. Gradients flow through: the compiled forward is one autograd node whose backward is
/// the compiled graph of its vector-Jacobian product.
///
///     let f = compile { (x: Tensor) -> Tensor in (x * 1.5 + 0.5).tanh() * x }
///     let y = f(Tensor.randn([1024]))      // traces, then runs compiled from the next call on
///     print(f.graph!)                      // the optimised graph
///
/// What is traced, what is guarded and when a function runs eagerly instead is explained in
/// the article "Compiling models".
public func compile(backend: any Backend = CPUBackend(), _ body: @escaping (Tensor) -> Tensor) -> CompiledFunction {
    CompiledFunction(arity: 1, backend: backend) { [body($0[0])] }
}

/// Compiles a function of two tensors (see ``compile(backend:_:)-(_,(Tensor)->Tensor)``).
///
///     let f = compile { (x: Tensor, r: Tensor) in F.layerNorm(x + r, normalizedShape: [768]) }
public func compile(backend: any Backend = CPUBackend(), _ body: @escaping (Tensor, Tensor) -> Tensor) -> CompiledFunction {
    CompiledFunction(arity: 2, backend: backend) { [body($0[0], $0[1])] }
}

/// Compiles a function of three tensors.
public func compile(backend: any Backend = CPUBackend(), _ body: @escaping (Tensor, Tensor, Tensor) -> Tensor) -> CompiledFunction {
    CompiledFunction(arity: 3, backend: backend) { [body($0[0], $0[1], $0[2])] }
}

/// Compiles a function from any number of tensors to any number of tensors.
///
///     let f = compile { (xs: [Tensor]) -> [Tensor] in [xs[0] + xs[1], xs[0] * xs[1]] }
public func compile(backend: any Backend = CPUBackend(), _ body: @escaping ([Tensor]) -> [Tensor]) -> CompiledFunction {
    CompiledFunction(arity: nil, backend: backend, body: body)
}

extension Layer {
    /// This layer's forward pass, compiled; training or evaluation mode is part of the
    /// signature, so `train()` and `eval()` each get their own trace, and so are the parameter
    /// tensors themselves: assigning a new tensor to a parameter retraces (updating one in
    /// place, as optimizers and `loadStateDict` do, needs no retrace).
    ///
    ///     let fast = model.eval().compiled()
    ///     let logits = withNoGrad { fast(images) }
    public func compiled(backend: any Backend = CPUBackend()) -> CompiledFunction {
        // The compiled function keeps the layer alive, as a closure over it would.
        let function = CompiledFunction(arity: 1, backend: backend) { [self] in [self($0[0])] }
        function.guardKey = { [self] in
            modules().map { $0.isTraining ? 1 : 0 } + parameters().map { ObjectIdentifier($0).hashValue }
        }
        return function
    }
}

/// A function compiled by ``compile(backend:_:)-(_,(Tensor)->Tensor)``: call it like the function.
///
/// Each input signature (shapes, dtypes, `requiresGrad` of the inputs, grad mode, and for
/// ``Layer/compiled(backend:)`` the modules' training flags) has its own trace and plan, up to
/// ``cacheLimit`` of them; beyond that, new signatures run eagerly with one warning. A
/// function whose trace cannot be trusted (it reads a tensor's value, writes in place, draws
/// random numbers, or calls an op that cannot be traced yet) is reported once, with the op
/// and the source line, and runs eagerly for that signature: never a silently wrong trace.
///
/// Calls are thread-safe; the planned arena serves one call at a time and a concurrent call
/// runs with fresh buffers.
public final class CompiledFunction: @unchecked Sendable {
    let arity: Int?
    let body: ([Tensor]) -> [Tensor]
    let backend: any Backend
    /// Extra guard values (a module's training flags) that are part of the signature.
    var guardKey: (() -> [Int])?
    /// How many signatures get their own trace before new ones run eagerly (PyTorch's
    /// recompile limit, 8).
    public var cacheLimit = 8

    private var entries: [Signature: Entry] = [:]
    private var lastEntry: CompiledEntry?
    private var warnedLimit = false
    /// Retraces per signature because a guard failed, and signatures whose trace is retried once.
    private var guardRetraces: [Signature: Int] = [:]
    private var retried: Set<Signature> = []
    static let guardRetraceLimit = 4
    private var lock: Int64 = 0
    /// How many times the function has been traced.
    public private(set) var traceCount = 0
    /// Why the last trace that failed was not used, if one failed.
    public private(set) var lastFailure: TraceFailure?

    init(arity: Int?, backend: any Backend, body: @escaping ([Tensor]) -> [Tensor]) {
        self.arity = arity
        self.backend = backend
        self.body = body
    }

    /// How many of the forward graph's outputs the function returns (the rest are values
    /// saved for the backward graph).
    public var outputCountOfLastTrace: Int { withLock { lastEntry?.outputCount ?? 0 } }
    /// The optimised forward graph of the most recent trace (nil before the first call); its
    /// outputs after the function's own are the values saved for backward.
    public var graph: Graph? { withLock { lastEntry?.forward.graph } }
    /// The optimised backward graph of the most recent trace, when it needed one.
    public var backwardGraph: Graph? { withLock { lastEntry?.backward?.graph } }
    /// The graph as traced, before the passes.
    public var tracedGraph: Graph? { withLock { lastEntry?.traced } }
    /// How the forward graph runs: its units (single ops and fused groups) and the arena.
    public var executionPlan: String? { withLock { lastEntry.map { $0.forward.description } } }

    /// Calls the function with any number of tensors.
    public func callAsFunction(_ inputs: [Tensor]) -> [Tensor] {
        if let arity {
            emberPrecondition(inputs.count == arity, "compiled function: expected \(arity) inputs, got \(inputs.count)")
        }
        // Inside another trace, the body runs as ops so that the outer trace records them.
        if Tracing.isActive && Tracing.recordingContext != nil { return body(inputs) }
        let signature = Signature(inputs: inputs, extra: guardKey?() ?? [])
        switch withLock({ entries[signature] }) {
        case .compiled(let entry)?:
            if entry.guardsHold() { return entry.run(inputs) }
            // A value the trace baked in changed (a learning rate): trace again, unless it
            // changes at nearly every call, when tracing would cost more than it saves.
            let retraces = withLock { () -> Int in
                guardRetraces[signature, default: 0] += 1
                return guardRetraces[signature]!
            }
            if retraces > CompiledFunction.guardRetraceLimit {
                withLock { entries[signature] = .eager }
                CompiledFunction.report("compile: a value the trace depends on (a hyper-parameter, a step count, whether .grad is nil) " +
                                        "changed at \(retraces) calls; the function runs eagerly for this input signature")
                return body(inputs)
            }
            return trace(inputs, signature: signature)
        case .eager?:
            return body(inputs)
        case nil:
            if withLock({ entries.count >= cacheLimit }) {
                warnOnce("compile: \(cacheLimit) input signatures traced already (cacheLimit); this one runs eagerly")
                return body(inputs)
            }
            return trace(inputs, signature: signature)
        }
    }

    /// Calls the function writing its results into `results`, tensors of the results' shapes
    /// and dtypes (PyTorch's `out=`), with no autograd history. After warm-up, a call whose
    /// results come from fused groups, matrix products, layer norms, softmax or reductions
    /// allocates no tensor memory at all; other results are computed and copied in.
    ///
    ///     let logits = Tensor.zeros([64, 10])
    ///     withNoGrad { fast([batch], into: [logits]) }
    public func callAsFunction(_ inputs: [Tensor], into results: [Tensor]) {
        if Tracing.recordingContext == nil, !isGradEnabled,
           case .compiled(let entry)? = withLock({ entries[Signature(inputs: inputs, extra: guardKey?() ?? [])] }),
           entry.guardsHold() {
            entry.run(inputs, into: results)
            return
        }
        let values = callAsFunction(inputs)
        emberPrecondition(values.count == results.count, "compiled function: returns \(values.count) tensors, got \(results.count) to write into")
        withoutGrad {
            for (result, value) in zip(results, values) {
                emberPrecondition(result.shape == value.shape && result.dtype == value.dtype,
                                  "compiled function: a result tensor must be \(value.dtype)\(value.shape), got \(result.dtype)\(result.shape)")
                CopyKernel.copy(from: value, into: result)
            }
        }
    }

    /// Calls a function of one tensor.
    public func callAsFunction(_ x: Tensor) -> Tensor { single(callAsFunction([x])) }
    /// Calls a function of two tensors.
    public func callAsFunction(_ x: Tensor, _ y: Tensor) -> Tensor { single(callAsFunction([x, y])) }
    /// Calls a function of three tensors.
    public func callAsFunction(_ x: Tensor, _ y: Tensor, _ z: Tensor) -> Tensor { single(callAsFunction([x, y, z])) }

    private func single(_ outputs: [Tensor]) -> Tensor {
        emberPrecondition(outputs.count == 1, "compiled function: returns \(outputs.count) tensors; call it with an array")
        return outputs[0]
    }

    private func trace(_ inputs: [Tensor], signature: Signature) -> [Tensor] {
        let (outputs, result) = Tracer.trace(body, inputs: inputs, backend: backend)
        withLock {
            traceCount += 1
            switch result {
            case .success(let entry):
                entries[signature] = .compiled(entry)
                lastEntry = entry
            case .failure(var failure):
                // State made on a first call (an optimizer's buffers) exists at the second.
                if failure.retriesNextCall && retried.insert(signature).inserted {
                    entries[signature] = nil
                } else {
                    failure.retriesNextCall = false
                    entries[signature] = .eager
                }
                lastFailure = failure
            }
        }
        if case .failure = result, let failure = withLock({ lastFailure }), !failure.retriesNextCall { CompiledFunction.report(failure) }
        return outputs
    }

    private func warnOnce(_ message: String) {
        let first = withLock { () -> Bool in
            defer { warnedLimit = true }
            return !warnedLimit
        }
        if first { CompiledFunction.report(message) }
    }

    static func report(_ message: CustomStringConvertible) {
        FileHandle.standardError.write(("warning: " + message.description + "\n").data(using: .utf8)!)
    }

    private func withLock<T>(_ body: () -> T) -> T {
        ember_spin_lock(&lock)
        defer { ember_spin_unlock(&lock) }
        return body()
    }

    enum Entry {
        case compiled(CompiledEntry)
        case eager
    }
}

/// What one trace is keyed by.
struct Signature: Hashable {
    struct Input: Hashable {
        let shape: [Int]
        let dtype: DType
        let requiresGrad: Bool
    }
    let inputs: [Input]
    let gradEnabled: Bool
    let extra: [Int]

    init(inputs: [Tensor], extra: [Int]) {
        self.inputs = inputs.map { Input(shape: $0.shape, dtype: $0.dtype, requiresGrad: $0.requiresGrad) }
        gradEnabled = isGradEnabled
        self.extra = extra
    }
}
