import CEmberKernels

/// The hook every traced op passes through: while ``compile(backend:_:)-(_,(Tensor)->Tensor)`` traces a function on this
/// thread, ops run eagerly as always and also record a ``Primitive`` node into the trace.
/// Otherwise the hook costs one load of a process-wide counter.
///
/// Ops call `Tracing.record` with their inputs, the primitive and the eager body. Nested ops
/// (the `to` and `contiguous` inside a unary op) run with recording suppressed, so only the
/// outermost op is recorded.
enum Tracing {
    /// How many threads are tracing right now; zero on the fast path of every op.
    @exclusivity(unchecked) nonisolated(unsafe) static var activeCount: Int64 = 0

    @inline(__always) static var isActive: Bool { activeCount != 0 }

    /// The calling thread's trace, if it is tracing and recording is not suppressed.
    @inline(__always)
    static var recordingContext: TraceContext? {
        guard isActive, let context = ThreadState.current.tracer, context.suppression == 0 else { return nil }
        return context
    }

    /// Runs `body`; when tracing, records `primitive(output)` for the output it returns.
    @inline(__always)
    static func record(_ inputs: @autoclosure () -> [Tensor], _ primitive: (Tensor) -> Primitive?,
                       _ body: () -> Tensor) -> Tensor {
        guard isActive, let context = recordingContext else { return body() }
        context.suppression += 1
        let output = body()
        context.suppression -= 1
        if let primitive = primitive(output) {
            context.record(primitive, inputs: inputs(), output: output)
        } else {
            context.fail("an operation with no graph form yet", tensor: output)
        }
        return output
    }

    /// Marks a tensor made from Swift values inside the trace as a constant of the graph.
    @inline(__always)
    static func noteConstant(_ tensor: Tensor) {
        guard isActive, let context = recordingContext else { return }
        context.addConstant(tensor)
    }

    /// Called from `Tensor`'s initialisers: remembers tensors made while tracing, so that one
    /// made by an op that records nothing is caught when a traced op reads it.
    /// Tensors made inside a recorded op (suppressed) count too: one that escapes the op
    /// other than as its output must not pass for a captured tensor.
    @inline(__always)
    static func noteCreated(_ tensor: Tensor) {
        guard isActive, let context = ThreadState.current.tracer else { return }
        context.noteCreated(tensor)
    }

    /// `alias` is a detached view of `tensor` that an autograd node keeps (a saved output):
    /// the trace treats it as the same value.
    @inline(__always)
    static func noteAlias(_ alias: Tensor, of tensor: Tensor) {
        guard isActive, let context = ThreadState.current.tracer else { return }
        context.noteAlias(alias, of: tensor)
    }

    /// Runs `body`, whose reads of element values check inputs (and stop the program when
    /// they fail) rather than steer the computation, so a trace may go on past them.
    static func exemptingValueReads<T>(_ body: () -> T) -> T {
        guard isActive, let context = ThreadState.current.tracer else { return body() }
        context.exemptReads += 1
        defer { context.exemptReads -= 1 }
        return body()
    }

    /// Called where an op reads element values on the host (`scalars`, `item`). A traced
    /// tensor's value would steer the trace: it fails. A tensor from outside the function
    /// (a step count) is baked in and guarded.
    @inline(__always)
    static func noteValueRead(_ tensor: Tensor, op: String) {
        guard isActive, let context = recordingContext, context.exemptReads == 0 else { return }
        if context.isTraced(tensor) {
            context.fail("\(op) reads a traced tensor's value (a data-dependent result or branch)", tensor: tensor)
        } else {
            context.valueRead(of: tensor, op: op)
        }
    }

    /// Called by every in-place write (`TensorStorage.bumpVersion`). The in-place ops record
    /// their writes through `writeInPlace`, which suppresses this; any other write cannot be traced.
    @inline(__always)
    static func noteInPlaceWrite() {
        guard isActive, let context = recordingContext else { return }
        context.fail("an in-place write that compile cannot trace (a kernel writing a tensor directly)", tensor: nil)
    }

    /// Called when a storage is allocated: memory made during the trace is the trace's own.
    @inline(__always)
    static func noteStorageCreated(_ storage: TensorStorage) {
        guard isActive, let context = ThreadState.current.tracer else { return }
        context.noteStorageCreated(storage)
    }

    /// Called by random factories: their values would be frozen into the graph.
    @inline(__always)
    static func noteRandom(_ op: String) {
        guard isActive, let context = ThreadState.current.tracer else { return }
        context.fail("\(op) draws random numbers (dropout in training mode, randn)", tensor: nil)
    }

    static func begin(_ context: TraceContext) {
        let state = ThreadState.current
        context.previous = state.tracer
        state.tracer = context
        _ = ember_atomic_add(&activeCount, 1)
    }

    static func end(_ context: TraceContext) {
        ThreadState.current.tracer = context.previous
        context.previous = nil
        _ = ember_atomic_add(&activeCount, -1)
    }
}

/// Why a trace could not be used: the operation, the tensor and the user's source line.
public struct TraceFailure: Error, CustomStringConvertible, Sendable {
    /// What happened, in words.
    public let reason: String
    /// The first frames of the call stack outside Ember, symbolised when possible.
    public let location: [String]
    /// Whether the next call may trace again (state the first call made exists by then).
    var retriesNextCall = false

    init(reason: String, location: [String]) {
        self.reason = reason
        self.location = location
    }

    public var description: String {
        "compile: \(reason); " + (retriesNextCall ? "the next call traces again" : "the function runs eagerly for this input signature") +
            (location.isEmpty ? "" : "\n  at " + location.joined(separator: "\n  at "))
    }
}

/// The state of one trace: the graph being built and which tensor is which value.
final class TraceContext {
    var graph = Graph()
    /// The value each known tensor stands for.
    private var valueOf: [ObjectIdentifier: Int] = [:]
    /// Known and created tensors stay alive until the trace ends, so that an object identifier
    /// is never reused for another tensor while it is a key.
    private var retained: [Tensor] = []
    private var created: Set<ObjectIdentifier> = []
    private var aliases: [ObjectIdentifier: Tensor] = [:]
    /// Each constant's bytes when it was made (see `checkConstant`).
    private var constantBytes: [Int: [UInt8]] = [:]
    /// Storage allocated during the trace (kept alive so identifiers stay unique).
    private var traceStorage: [ObjectIdentifier: TensorStorage] = [:]
    /// The bound tensors over each storage, to find the views an in-place write invalidates.
    private var boundOverStorage: [ObjectIdentifier: [ObjectIdentifier]] = [:]
    private var boundTensors: [ObjectIdentifier: Tensor] = [:]
    /// The function's arguments by identity, and their storage.
    private var inputIdentities: [ObjectIdentifier: Int] = [:]
    private(set) var inputStorages: [ObjectIdentifier: Int] = [:]
    /// Writes, gradients and guards (see `TraceEffects`).
    var effects = TraceEffects()
    /// Every tensor made during the trace, weakly: one still alive after it that the caller
    /// did not get back is held by Swift code (see `Tracer.survivors`).
    private(set) var madeDuringTrace: [WeakTensor] = []
    /// Greater than zero while an op that records itself runs its inner ops.
    var suppression = 0
    /// Greater than zero inside `Tracing.exemptingValueReads`.
    var exemptReads = 0
    private(set) var failure: TraceFailure?
    var previous: TraceContext?

    /// Adds the function's arguments as the graph's inputs.
    func addInputs(_ tensors: [Tensor]) {
        for (index, tensor) in tensors.enumerated() {
            let value = graph.addValue(shape: tensor.shape, dtype: tensor.dtype, source: .input(index))
            bind(tensor, to: value)
            inputIdentities[ObjectIdentifier(tensor)] = index
            inputStorages[ObjectIdentifier(tensor.storage)] = index
        }
    }

    func bind(_ tensor: Tensor, to value: Int) {
        let id = ObjectIdentifier(tensor)
        if valueOf[id] == nil {
            retained.append(tensor)
            boundOverStorage[ObjectIdentifier(tensor.storage), default: []].append(id)
            boundTensors[id] = tensor
        }
        valueOf[id] = value
    }

    /// The bound tensor over `storage` that stands for `value`, if any.
    func boundTensor(over storage: ObjectIdentifier, value: Int) -> Tensor? {
        tensorsOver(storage).lazy.compactMap { self.valueOf[$0] == value ? self.boundTensors[$0] : nil }.first
    }

    /// Keeps `tensor` alive until the trace ends.
    func keep(_ tensor: Tensor) { retained.append(tensor) }

    func noteStorageCreated(_ storage: TensorStorage) { traceStorage[ObjectIdentifier(storage)] = storage }

    /// True for a tensor over memory allocated during the trace (writes to it only rebind).
    func isTraceMemory(_ tensor: Tensor) -> Bool { traceStorage[ObjectIdentifier(tensor.storage)] != nil }

    /// The position of `tensor` among the function's arguments.
    func inputPosition(of tensor: Tensor) -> Int? { inputIdentities[ObjectIdentifier(tensor)] }

    /// The tensors bound to values that view `storage`.
    func tensorsOver(_ storage: ObjectIdentifier) -> [ObjectIdentifier] { boundOverStorage[storage] ?? [] }

    /// Lets go of every tensor the trace kept, so that only other holders keep them alive.
    func releaseTensors() {
        valueOf = [:]; retained = []; created = []; aliases = [:]; constantBytes = [:]
        traceStorage = [:]; boundOverStorage = [:]; boundTensors = [:]; inputIdentities = [:]; inputStorages = [:]
        effects = TraceEffects()
        graph = Graph()
    }

    func value(of tensor: Tensor) -> Int? { valueOf[ObjectIdentifier(tensor)] }

    /// True for tensors the trace made or knows (so their values depend on the inputs).
    func isTraced(_ tensor: Tensor) -> Bool {
        let id = ObjectIdentifier(tensor)
        if let value = valueOf[id] {
            if case .captured = graph.values[value].source { return false }
            return true
        }
        return created.contains(id)
    }

    func noteCreated(_ tensor: Tensor) {
        created.insert(ObjectIdentifier(tensor))
        retained.append(tensor)
        madeDuringTrace.append(WeakTensor(tensor))
    }

    func noteAlias(_ alias: Tensor, of tensor: Tensor) {
        aliases[ObjectIdentifier(alias)] = tensor
        retained.append(alias)
    }

    func addConstant(_ tensor: Tensor) {
        let value = graph.addValue(shape: tensor.shape, dtype: tensor.dtype, source: .constant(tensor))
        bind(tensor, to: value)
        constantBytes[value] = TraceContext.bytes(of: tensor)
    }

    /// The bytes of a contiguous tensor (constants are made contiguous).
    static func bytes(of tensor: Tensor) -> [UInt8] {
        guard tensor.isContiguous else { return [] }
        return Array(UnsafeRawBufferPointer(start: tensor.baseAddress, count: tensor.count * tensor.dtype.byteSize))
    }

    /// Fails the trace if a constant was written after it was made: a kernel that filled it
    /// (an op without a graph form) would otherwise leave its trace-time values in the graph.
    private func checkConstant(_ value: Int, consumer: String) {
        guard let expected = constantBytes[value], case .constant(let tensor) = graph.values[value].source else { return }
        if TraceContext.bytes(of: tensor) != expected {
            fail("\(consumer) reads a tensor of shape \(tensor.shape) that an operation compile cannot trace yet wrote into", tensor: tensor)
        }
    }

    /// The value standing for `tensor`: known, or captured from outside the function.
    /// nil (and the trace fails) for a tensor made inside the trace by an op that records nothing.
    func resolve(_ tensor: Tensor, consumer: String) -> Int? {
        if let reason = effects.unreadable[ObjectIdentifier(tensor)] {
            fail("\(consumer) \(reason)", tensor: tensor)
            return nil
        }
        if let value = valueOf[ObjectIdentifier(tensor)] {
            checkConstant(value, consumer: consumer)
            return value
        }
        if let original = aliases[ObjectIdentifier(tensor)], let value = resolve(original, consumer: consumer) {
            bind(tensor, to: value)
            return value
        }
        if created.contains(ObjectIdentifier(tensor)) {
            fail("\(consumer) reads a tensor of shape \(tensor.shape) made by an operation that compile cannot trace yet", tensor: tensor)
            return nil
        }
        if effects.writtenStorage.contains(ObjectIdentifier(tensor.storage)) {
            fail("\(consumer) reads a view of a tensor that the function wrote in place; read the tensor itself", tensor: tensor)
            return nil
        }
        let value = graph.addValue(shape: tensor.shape, dtype: tensor.dtype, source: .captured(tensor))
        bind(tensor, to: value)
        return value
    }

    func record(_ primitive: Primitive, inputs: [Tensor], output: Tensor) {
        guard failure == nil else { return }
        var ids: [Int] = []
        ids.reserveCapacity(inputs.count)
        for input in inputs {
            guard let id = resolve(input, consumer: primitive.name) else { return }
            checkConstant(id, consumer: primitive.name)
            ids.append(id)
        }
        // An op that returned one of its inputs unchanged (x.to(x.dtype), contiguous()) adds nothing.
        if let index = inputs.firstIndex(where: { $0 === output }) {
            bind(output, to: ids[index])
            return
        }
        let value = graph.addNode(primitive, inputs: ids, shape: output.shape, dtype: output.dtype)
        bind(output, to: value)
    }

    func fail(_ reason: String, tensor: Tensor?) {
        guard failure == nil else { return }
        failure = TraceFailure(reason: reason, location: TraceContext.userFrames())
    }

    /// The caller's frames outside Ember's own files, symbolised where the tools allow.
    static func userFrames() -> [String] {
        Array(CallStack.describe(CallStack.capture()).prefix(3))
    }
}

/// A weak reference to a tensor.
struct WeakTensor {
    weak var tensor: Tensor?
    init(_ tensor: Tensor) { self.tensor = tensor }
}
