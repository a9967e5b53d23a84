import EmberKernels

/// The whole recurrence of one LSTM layer in one direction as one op, as PyTorch's oneDNN and
/// cuDNN LSTMs run it: from the input projection of every step (`inputGates`, [T, B, 4H], the
/// biases already added), the hidden weight W_hh ([4H, H]) and the initial state (h0, c0,
/// [B, H]), it returns every step's h in time order ([T, B, H]) and the last (h, c).
///
/// Why one node instead of one per step: backward through time then needs only the per-step
/// product dh_{t−1} = d gates_t · W_hh. The weight gradient, Σ_t d gates_tᵀ · h_{t−1}, becomes one
/// product over all T·B rows, instead of T products over B rows each (B = 16 is a poor inner
/// dimension for a matrix product) followed by T in-place additions into W_hh's gradient.
/// The states of all steps live in two [T + 1, B, H] buffers, so that the previous states of
/// every step are T contiguous rows, the operand of that one product.
///
/// Backward rule, two forms, as for `FusedLSTMCell`: the usual first-order `backward()` runs the
/// C cell kernels over the activations saved in forward; with `createGraph` the rule recomputes
/// the forward pass from the attached inputs and writes backward through time in Tensor ops, so
/// that gradients of any order are right (gradgradcheck covers it).
///
/// Only float32 and float64 operands of one dtype and at least one step take this path
/// (`supports`); `RecurrentLayer` runs the steps one by one otherwise.
enum FusedLSTMLayer {
    static func supports(inputGates: Tensor, hiddenWeight: Tensor, h0: Tensor, c0: Tensor) -> Bool {
        let dtype = inputGates.dtype
        guard dtype == .float32 || dtype == .float64, hiddenWeight.dtype == dtype, h0.dtype == dtype,
              c0.dtype == dtype, inputGates.rank == 3, inputGates.shape[0] > 0, h0.rank == 2 else { return false }
        let batch = inputGates.shape[1], hidden = h0.shape[1]
        return hidden > 0 && inputGates.shape[2] == 4 * hidden && hiddenWeight.shape == [4 * hidden, hidden]
            && h0.shape == [batch, hidden] && c0.shape == [batch, hidden]
    }

    /// Runs time steps 0..<T (T−1 down to 0 with `reverse`) from (h0, c0).
    static func apply(inputGates: Tensor, hiddenWeight: Tensor, h0: Tensor, c0: Tensor,
                      reverse: Bool) -> (output: Tensor, h: Tensor, c: Tensor) {
        emberPrecondition(supports(inputGates: inputGates, hiddenWeight: hiddenWeight, h0: h0, c0: c0),
                          "lstm: expected float32 or float64 input gates [T ≥ 1, B, 4H], hidden weight [4H, H] and states [B, H] of one dtype, got \(inputGates.shape) (\(inputGates.dtype)), \(hiddenWeight.shape) (\(hiddenWeight.dtype)), \(h0.shape) and \(c0.shape)")
        let steps = inputGates.shape[0], batch = h0.shape[0], hidden = h0.shape[1], dtype = h0.dtype
        let inputs = [inputGates, hiddenWeight, h0, c0]
        let record = GraphRecorder.shouldRecord(inputs)
        if Tracing.recordingContext != nil && !record {
            // A trace records the recurrence as one primitive and the three results as slices of
            // it (with gradients the trace still fails here: the closure node below has no
            // graph form, and the function runs eagerly).
            let states = packed(inputGates: inputGates, hiddenWeight: hiddenWeight, h0: h0, c0: c0, reverse: reverse)
            return (states.narrow(dim: 0, start: 0, length: steps), states.select(dim: 0, index: steps),
                    states.select(dim: 0, index: steps + 1))
        }
        let layout = StateLayout(steps: steps, reverse: reverse)
        // hs and cs hold the states in time order, the initial state at the end the recurrence
        // starts from: `layout.previous(t)` is the row of step t's input state, `layout.next(t)`
        // the row of its output state.
        let hs = Tensor(uninitializedShape: [steps + 1, batch, hidden], dtype: dtype)
        let cs = Tensor(uninitializedShape: [steps + 1, batch, hidden], dtype: dtype)
        let activations: Tensor? = record ? Tensor(uninitializedShape: [steps, batch, 5 * hidden], dtype: dtype) : nil
        let gates = withoutGrad { () -> Tensor in
            _ = hs.select(dim: 0, index: layout.initialRow).copy_(h0)
            _ = cs.select(dim: 0, index: layout.initialRow).copy_(c0)
            let gates = inputGates.contiguous()
            // W_hhᵀ laid out once, so that each step's product reads B with unit column stride and
            // takes GEMM's unpacked small-product path instead of packing the whole weight per step.
            let weightT = hiddenWeight.t.contiguous()
            let rowBytes = batch * hidden * dtype.byteSize
            for t in layout.times {
                let hiddenGates = hs.select(dim: 0, index: layout.previous(t)).matmul(weightT)
                FusedLSTMCell.forwardKernel(
                    dtype: dtype, rows: batch, hidden: hidden,
                    inputGates: UnsafeRawPointer(gates.baseAddress) + t * 4 * rowBytes,
                    hiddenGates: UnsafeRawPointer(hiddenGates.baseAddress),
                    cPrev: UnsafeRawPointer(cs.baseAddress) + layout.previous(t) * rowBytes,
                    h: hs.baseAddress + layout.next(t) * rowBytes, c: cs.baseAddress + layout.next(t) * rowBytes,
                    saved: activations.map { $0.baseAddress + t * 5 * rowBytes })
            }
            return gates
        }
        let output = hs.narrow(dim: 0, start: layout.outputStart, length: steps)
        let (hN, cN) = withoutGrad {
            (hs.select(dim: 0, index: layout.finalRow).clone(), cs.select(dim: 0, index: layout.finalRow).clone())
        }
        guard record, let activations else { return (output, hN, cN) }
        let needs = inputs.map(\.requiresGrad)
        // `output` shares hs's storage, which backward reads: an in-place write to it is caught.
        GraphRecorder.record("lstm", inputs: inputs, outputs: [output, hN, cN], saved: inputs + [output]) { context in
            let gradOutputs = context.gradOutputs.map { $0.dtype == dtype ? $0 : $0.to(dtype) }
            if ThreadState.current.gradEnabled {
                return differentiableBackward(inputGates: inputGates, hiddenWeight: hiddenWeight, h0: h0, c0: c0,
                                              layout: layout, gradOutputs: gradOutputs)
            }
            return kernelBackward(gates: gates, hiddenWeight: hiddenWeight, hs: hs, cs: cs, activations: activations,
                                  layout: layout, gradOutputs: gradOutputs, needs: needs)
        }
        return (output, hN, cN)
    }

    /// The recurrence as one value, [T + 2, B, H]: every step's h in time order, then the last h
    /// and c. What a trace records (``Primitive/lstm(reverse:)``) and `CPUBackend` runs.
    static func packed(inputGates: Tensor, hiddenWeight: Tensor, h0: Tensor, c0: Tensor, reverse: Bool) -> Tensor {
        Dispatch.apply([inputGates, hiddenWeight, h0, c0], { _ in .lstm(reverse: reverse) }) {
            let states = withoutGrad { apply(inputGates: inputGates, hiddenWeight: hiddenWeight, h0: h0, c0: c0, reverse: reverse) }
            return Tensor.cat([states.output, states.h.unsqueezed(0), states.c.unsqueezed(0)], dim: 0)
        }
    }

    /// The vector-Jacobian product of ``packed(inputGates:hiddenWeight:h0:c0:reverse:)``: its
    /// gradient split back into those of the outputs, the last h and the last c.
    static func packedGradients(_ context: BackwardContext, reverse: Bool) -> [Tensor?] {
        let g = context.gradOutput, steps = g.shape[0] - 2
        return differentiableBackward(inputGates: context.savedInput(0)!, hiddenWeight: context.savedInput(1)!,
                                      h0: context.savedInput(2)!, c0: context.savedInput(3)!,
                                      layout: StateLayout(steps: steps, reverse: reverse),
                                      gradOutputs: [g.narrow(dim: 0, start: 0, length: steps),
                                                    g.select(dim: 0, index: steps), g.select(dim: 0, index: steps + 1)])
    }

    /// Which rows of the [T + 1, B, H] state buffers belong to which time step.
    struct StateLayout {
        let steps: Int
        let reverse: Bool
        /// Time steps in the order the recurrence runs them.
        var times: [Int] { reverse ? Array((0..<steps).reversed()) : Array(0..<steps) }
        var initialRow: Int { reverse ? steps : 0 }
        var finalRow: Int { reverse ? 0 : steps }
        /// The first of the T rows that hold the outputs in time order.
        var outputStart: Int { reverse ? 0 : 1 }
        /// The first of the T rows that hold each time step's input state, in time order.
        var previousStart: Int { reverse ? 1 : 0 }
        func previous(_ t: Int) -> Int { reverse ? t + 1 : t }
        func next(_ t: Int) -> Int { reverse ? t : t + 1 }
    }

    /// Backward through time with the C cell kernel; gradients of (inputGates, W_hh, h0, c0).
    private static func kernelBackward(gates: Tensor, hiddenWeight: Tensor, hs: Tensor, cs: Tensor, activations: Tensor,
                                       layout: StateLayout, gradOutputs: [Tensor], needs: [Bool]) -> [Tensor?] {
        let steps = layout.steps, batch = hs.shape[1], hidden = hs.shape[2], dtype = hs.dtype
        let rowBytes = batch * hidden * dtype.byteSize
        let gradOutput = gradOutputs[0].contiguous()
        var gradH = gradOutputs[1].contiguous()
        var gradC = gradOutputs[2].contiguous()
        // d gates of every step: the gradient of inputGates as it is, and one operand of W_hh's.
        let gradGates = Tensor(uninitializedShape: [steps, batch, 4 * hidden], dtype: dtype)
        for t in layout.times.reversed() {
            let gradHTotal = gradH + gradOutput.select(dim: 0, index: t)
            let gradCPrevious = Tensor(uninitializedShape: [batch, hidden], dtype: dtype)
            FusedLSTMCell.backwardKernel(
                dtype: dtype, rows: batch, hidden: hidden,
                saved: UnsafeRawPointer(activations.baseAddress) + t * 5 * rowBytes,
                cPrev: UnsafeRawPointer(cs.baseAddress) + layout.previous(t) * rowBytes,
                gradH: UnsafeRawPointer(gradHTotal.baseAddress), gradC: UnsafeRawPointer(gradC.baseAddress),
                gradGates: gradGates.baseAddress + t * 4 * rowBytes, gradCPrev: gradCPrevious.baseAddress)
            gradH = gradGates.select(dim: 0, index: t).matmul(hiddenWeight)
            gradC = gradCPrevious
        }
        let gradWeight: Tensor? = needs[1] ? {
            let previousStates = hs.narrow(dim: 0, start: layout.previousStart, length: steps).reshaped([steps * batch, hidden])
            return gradGates.reshaped([steps * batch, 4 * hidden]).t.matmul(previousStates)
        }() : nil
        return [needs[0] ? gradGates : nil, gradWeight, needs[2] ? gradH : nil, needs[3] ? gradC : nil]
    }

    /// The same backward through time in Tensor ops on a recomputed forward pass, so that the
    /// gradients are themselves differentiable (createGraph).
    private static func differentiableBackward(inputGates: Tensor, hiddenWeight: Tensor, h0: Tensor, c0: Tensor,
                                               layout: StateLayout, gradOutputs: [Tensor]) -> [Tensor?] {
        let steps = layout.steps
        var gates = [Tensor?](repeating: nil, count: steps)
        var previousH = [Tensor?](repeating: nil, count: steps)
        var previousC = [Tensor?](repeating: nil, count: steps)
        var h = h0, c = c0
        for t in layout.times {
            let stepGates = inputGates.select(dim: 0, index: t) + h.matmul(hiddenWeight.t)
            (gates[t], previousH[t], previousC[t]) = (stepGates, h, c)
            (h, c) = FusedLSTMCell.apply(inputGates: stepGates, hiddenGates: nil, cPrev: c)
        }
        var gradH = gradOutputs[1], gradC = gradOutputs[2]
        var gradGates = [Tensor?](repeating: nil, count: steps)
        var gradWeight: Tensor?
        for t in layout.times.reversed() {
            let step = FusedLSTMCell.differentiableBackward(
                gates: gates[t]!, cPrev: previousC[t]!, gradH: gradH + gradOutputs[0].select(dim: 0, index: t), gradC: gradC)
            gradGates[t] = step.gates
            let contribution = step.gates.t.matmul(previousH[t]!)
            gradWeight = gradWeight.map { $0 + contribution } ?? contribution
            gradH = step.gates.matmul(hiddenWeight)
            gradC = step.cPrev
        }
        return [Tensor.stack(gradGates.map { $0! }, dim: 0), gradWeight, gradH, gradC]
    }
}
