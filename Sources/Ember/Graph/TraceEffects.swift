// What a traced function does besides computing its results, so that a whole training step
// (forward, `backward()`, `optimizer.step()`) compiles: in-place writes to tensors from outside
// the trace (parameters, optimizer buffers, running statistics), `.grad` assignments, and the
// Swift-side values the trace bakes in.
//
// Writes are functionalised, as PyTorch's AOTAutograd does: while tracing, `x += y` records
// `x' = add(x, y)` and the trace rebinds the tensor `x` to the value `x'`. A write to a tensor
// from outside the trace becomes an extra output of the graph, copied into that tensor after
// each compiled call; a write into one slice of a whole tensor records `sliceAssign` on the
// whole tensor. Anything the trace cannot express this way (another partial write, a read of a
// view whose memory was written since) fails the trace with a message.

/// Side effects and guards gathered while tracing (see `TraceContext.effects`).
struct TraceEffects {
    /// A tensor from outside the trace that the function writes in place.
    enum WriteTarget {
        /// The function's argument at this position.
        case input(Int)
        /// A tensor the function reaches by reference (a parameter, an optimizer buffer).
        case captured(Tensor)
    }

    /// In-place writes to tensors from outside the trace, in first-write order, each with the
    /// value it holds at the end of the function.
    var writes: [(id: ObjectIdentifier, target: WriteTarget, value: Int)] = []
    /// `.grad` of tensors from outside the trace, as the function last assigned it.
    var gradients: [(owner: Tensor, gradient: Tensor?)] = []
    /// Each `.grad` the function read before assigning it, and whether it was nil then.
    var gradientGuards: [(owner: Tensor, wasNil: Bool)] = []
    /// Elements of tensors from outside the trace read on the host (baked into the graph).
    var valueGuards: [(tensor: Tensor, bytes: [UInt8])] = []
    /// Swift values the trace baked in (an optimizer's hyper-parameters), with their values then.
    var hostGuards: [(read: () -> [Double], values: [Double])] = []
    /// Tensors the trace must not read from now on, and why.
    var unreadable: [ObjectIdentifier: String] = [:]
    /// Storage of tensors from outside written in place: a tensor newly seen that views it
    /// would be read by reference before the write lands, so it must not be captured.
    var writtenStorage: Set<ObjectIdentifier> = []

    /// True when the function changes state outside its results.
    var hasSideEffects: Bool { !writes.isEmpty || !gradients.isEmpty }
}

/// The effects of one compiled entry: its guards, checked before each call, and its writes,
/// replayed after the plan runs.
struct CompiledEffects {
    /// Forward outputs copied into tensors from outside (in order), and `.grad` assignments
    /// (output position, or nil for a gradient set to nil).
    let writes: [(target: TraceEffects.WriteTarget, output: Int)]
    let gradients: [(owner: Tensor, output: Int?)]
    let gradientGuards: [(owner: Tensor, wasNil: Bool)]
    let valueGuards: [(tensor: Tensor, bytes: [UInt8])]
    let hostGuards: [(read: () -> [Double], values: [Double])]

    static var none: CompiledEffects { CompiledEffects(writes: [], gradients: [], gradientGuards: [], valueGuards: [], hostGuards: []) }

    /// True while every value the trace depended on is what it was then.
    func guardsHold() -> Bool {
        for (owner, wasNil) in gradientGuards where (owner.grad == nil) != wasNil { return false }
        for (tensor, bytes) in valueGuards where TraceContext.bytes(of: tensor.contiguous()) != bytes { return false }
        for (read, values) in hostGuards where read().map(\.bitPattern) != values.map(\.bitPattern) { return false }
        return true
    }

    /// Copies the written values into their tensors and assigns the gradients.
    func apply(_ results: [Tensor], inputs: [Tensor]) {
        guard !writes.isEmpty || !gradients.isEmpty else { return }
        let targets = writes.map { write -> Tensor in
            switch write.target {
            case .input(let position): return inputs[position]
            case .captured(let tensor): return tensor
            }
        }
        withoutGrad {
            // A result that views a target's memory (a value passed through unchanged) is
            // copied first, so that no write clobbers a value another write still reads.
            // (A result that is its target was computed in place: see `directWrites`.)
            let sources = zip(writes, targets).map { write, target -> Tensor in
                let result = results[write.output]
                if result === target { return result }
                return targets.contains(where: { $0.storage === result.storage }) ? result.clone() : result
            }
            for (target, source) in zip(targets, sources) where target !== source {
                CopyKernel.copy(from: source, into: target)
                target.storage.bumpVersion()
            }
        }
        for (owner, output) in gradients {
            guard let output else { owner.grad = nil; continue }
            let gradient = results[output]
            // Like the engine, never hand out a gradient that shares memory with another tensor.
            let shared = targets.contains { $0.storage === gradient.storage } || inputs.contains { $0.storage === gradient.storage }
                || gradients.contains { $0.owner.storage === gradient.storage }
            owner.grad = shared ? withoutGrad { gradient.clone() } : gradient
        }
    }
}

extension TraceContext {
    /// Records `target ← value` for an in-place op (`+=`, `copy_`, `fill_`, an optimizer's
    /// update), in place of the write itself, which the eager op then performs.
    func recordWrite(_ value: Tensor, into target: Tensor, op: String) {
        guard failure == nil else { return }
        guard TraceContext.isWhole(target) else {
            recordSliceWrite(value, into: target, op: op)
            return
        }
        guard let written = converted(value, to: target, op: op) else { return }
        recordWholeWrite(written, into: target, op: op)
    }

    /// The value of `value` as written into `target`: cast and broadcast to its dtype and shape.
    private func converted(_ value: Tensor, to target: Tensor, op: String) -> Int? {
        guard var written = resolve(value, consumer: op) else { return nil }
        if value.dtype != target.dtype {
            written = graph.addNode(.cast(target.dtype), inputs: [written], shape: value.shape, dtype: target.dtype)
        }
        if value.shape != target.shape {
            written = graph.addNode(.expand(target.shape), inputs: [written], shape: target.shape, dtype: target.dtype)
        }
        return written
    }

    /// `target` (a whole tensor) now holds graph value `written`.
    private func recordWholeWrite(_ written: Int, into target: Tensor, op: String) {
        let id = ObjectIdentifier(target), storage = ObjectIdentifier(target.storage)
        if !isTraceMemory(target) {
            if let index = effects.writes.firstIndex(where: { $0.id == id }) {
                effects.writes[index].value = written
            } else if let position = inputPosition(of: target) {
                effects.writes.append((id, .input(position), written))
            } else if inputStorages[storage] != nil {
                fail("\(op) writes into a view of an argument; write into the argument itself", tensor: target)
                return
            } else {
                effects.writes.append((id, .captured(target), written))
            }
            effects.writtenStorage.insert(storage)
        }
        // Other tensors over this memory now hold something else than their values say.
        for other in tensorsOver(storage) where other != id {
            effects.unreadable[other] = "reads a view of a tensor that an in-place op wrote after the view was made"
        }
        bind(target, to: written)
    }

    /// True for a tensor that is all of its storage, in order: what a write rebinds as a whole.
    static func isWhole(_ tensor: Tensor) -> Bool {
        tensor.isContiguous && tensor.storageOffset == 0 && tensor.count * tensor.dtype.byteSize == tensor.storage.byteCount
    }

    /// A write into a slice of a whole tensor (`y[0] = …`, `x[..., t].copy_(k)`): recorded as
    /// a write of the whole tensor, `sliceAssign(base, value)`, after which the slice itself
    /// reads the new base. Any other partial write fails the trace, and so does one that
    /// autograd records (its history through the write is not traced).
    private func recordSliceWrite(_ value: Tensor, into target: Tensor, op: String) {
        let refuse = { self.fail("\(op) writes into part of a tensor of shape \(target.shape) that is not one slice of a whole tensor; compile traces writes to whole tensors and their slices", tensor: target) }
        guard !(isGradEnabled && (target.requiresGrad || value.requiresGrad)),
              let view = self.value(of: target), let slice = graph.producer(of: view),
              case .slice(let components) = slice.primitive,
              let base = boundTensor(over: ObjectIdentifier(target.storage), value: slice.inputs[0]), TraceContext.isWhole(base)
        else { return refuse() }
        guard let written = converted(value, to: target, op: op) else { return }
        let updated = graph.addNode(.sliceAssign(components), inputs: [slice.inputs[0], written], shape: base.shape, dtype: base.dtype)
        recordWholeWrite(updated, into: base, op: op)
        guard failure == nil else { return }
        let reread = graph.addNode(.slice(components), inputs: [updated], shape: target.shape, dtype: target.dtype)
        effects.unreadable[ObjectIdentifier(target)] = nil
        bind(target, to: reread)
    }

    /// Notes a read of `owner.grad` (the engine's accumulation, an optimizer, user code).
    func gradientRead(of owner: Tensor, _ gradient: Tensor?) {
        guard failure == nil, !isTraceMemory(owner) else { return }
        // After the function assigned it, `.grad` is a traced value like any other.
        if effects.gradients.contains(where: { $0.owner === owner }) { return }
        if !effects.gradientGuards.contains(where: { $0.owner === owner }) {
            effects.gradientGuards.append((owner, gradient == nil))
        }
        if let gradient, !isTraced(gradient) {
            keep(gradient)
            effects.unreadable[ObjectIdentifier(gradient)] =
                "reads a gradient accumulated before the call (shape \(gradient.shape)): accumulation across calls is not traced; zero the gradients (zeroGrad()) before or inside the compiled step"
        }
    }

    /// Notes `owner.grad = gradient`.
    func gradientWrite(of owner: Tensor, _ gradient: Tensor?) {
        guard failure == nil, !isTraceMemory(owner) else { return }
        if let gradient { keep(gradient) }
        if let index = effects.gradients.firstIndex(where: { $0.owner === owner }) {
            effects.gradients[index].gradient = gradient
        } else {
            keep(owner)
            effects.gradients.append((owner, gradient))
        }
    }

    /// Notes a host read of a tensor from outside the trace: its value is baked into the
    /// graph, so it becomes a guard (small tensors only: a step count, a flag).
    func valueRead(of tensor: Tensor, op: String) {
        guard failure == nil else { return }
        guard tensor.count <= 64 else {
            fail("\(op) reads the values of a tensor of shape \(tensor.shape) from outside the function (a data-dependent result)", tensor: tensor)
            return
        }
        keep(tensor)
        // The copy that makes the bytes readable is not part of the function.
        suppression += 1
        effects.valueGuards.append((tensor, TraceContext.bytes(of: tensor.contiguous())))
        suppression -= 1
    }
}

extension Tracing {
    /// Records the write of an in-place op while tracing; `write` performs it.
    @inline(__always)
    static func writeInPlace(_ value: Tensor, into target: Tensor, op: String, _ write: () -> Void) {
        guard isActive, let context = recordingContext else { return write() }
        context.recordWrite(value, into: target, op: op)
        // The write itself is the one just recorded.
        context.suppression += 1
        write()
        context.suppression -= 1
    }

    /// Called where `.grad` is read.
    @inline(__always)
    static func noteGradientRead(of owner: Tensor, _ gradient: Tensor?) {
        guard isActive, let context = recordingContext else { return }
        context.gradientRead(of: owner, gradient)
    }

    /// Called where `.grad` is assigned.
    @inline(__always)
    static func noteGradientWrite(of owner: Tensor, _ gradient: Tensor?) {
        guard isActive, let context = recordingContext else { return }
        context.gradientWrite(of: owner, gradient)
    }

    /// Declares Swift values that the code being traced bakes into the graph as constants (an
    /// optimizer's learning rate): each compiled call reads them again and retraces when they
    /// changed. Does nothing outside a trace.
    static func guardHostValues(_ read: @escaping () -> [Double]) {
        guard isActive, let context = recordingContext else { return }
        context.effects.hostGuards.append((read, read()))
    }
}
