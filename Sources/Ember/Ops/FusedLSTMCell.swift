import CEmberKernels
import EmberKernels

/// The pointwise part of an LSTM step as one op: from the gate pre-activations
/// (`inputGates` + `hiddenGates`, [B, 4H] in PyTorch's i, f, g, o order) and c_{t−1} ([B, H]),
/// c = σ(f) ⊙ c_{t−1} + σ(i) ⊙ tanh(g) and h = σ(o) ⊙ tanh(c), in one C loop over B×H
/// (`ember_lstm_cell_forward`), recorded as ONE autograd node instead of the ~10 of the
/// composed ops (split, three sigmoids, two tanhs, three products and a sum, each allocating).
///
/// Backward rule, two forms:
/// - first order (grad mode off while backward runs, the usual `backward()`): one C loop
///   (`ember_lstm_cell_backward`) from the activations saved in forward (i, f, g, o, tanh(c),
///   [B, 5H]) and c_{t−1}, writing d gates and d c_{t−1};
/// - with `createGraph` the kernel's result would have no history, so the rule instead
///   recomputes the activations from the saved inputs with Tensor ops and writes the same
///   formulas in Tensor ops: slower, but differentiable to any order (gradgradcheck covers it).
///
/// Only float32 and float64 [B, 4H] / [B, H] operands of one dtype take this path
/// (`supports`); `RecurrentStep.lstm` composes the ops for anything else.
enum FusedLSTMCell {
    static func supports(_ inputGates: Tensor, _ hiddenGates: Tensor?, _ cPrev: Tensor) -> Bool {
        let dtype = cPrev.dtype
        guard dtype == .float32 || dtype == .float64, inputGates.dtype == dtype, cPrev.rank == 2 else { return false }
        let shape = [cPrev.shape[0], 4 * cPrev.shape[1]]
        guard inputGates.shape == shape else { return false }
        if let hiddenGates { return hiddenGates.dtype == dtype && hiddenGates.shape == shape }
        return true
    }

    /// (h, c) from gates = inputGates + hiddenGates (or inputGates alone) and c_{t−1}.
    static func apply(inputGates: Tensor, hiddenGates: Tensor?, cPrev: Tensor) -> (h: Tensor, c: Tensor) {
        emberPrecondition(supports(inputGates, hiddenGates, cPrev),
                          "lstmCell: expected float32 or float64 gates [B, 4H] and cell state [B, H] of one dtype, got \(inputGates.shape) (\(inputGates.dtype)) and \(cPrev.shape) (\(cPrev.dtype))")
        let rows = cPrev.shape[0], hidden = cPrev.shape[1], dtype = cPrev.dtype
        var inputs = [inputGates, cPrev]
        if let hiddenGates { inputs.append(hiddenGates) }
        let record = GraphRecorder.shouldRecord(inputs)
        let (a, b, previous) = withoutGrad { (inputGates.contiguous(), hiddenGates?.contiguous(), cPrev.contiguous()) }
        let h = Tensor(uninitializedShape: [rows, hidden], dtype: dtype)
        let c = Tensor(uninitializedShape: [rows, hidden], dtype: dtype)
        let saved: Tensor? = record ? Tensor(uninitializedShape: [rows, 5 * hidden], dtype: dtype) : nil
        forwardKernel(dtype: dtype, rows: rows, hidden: hidden, inputGates: UnsafeRawPointer(a.baseAddress),
                      hiddenGates: b.map { UnsafeRawPointer($0.baseAddress) }, cPrev: UnsafeRawPointer(previous.baseAddress),
                      h: h.baseAddress, c: c.baseAddress, saved: saved?.baseAddress)
        if record, let saved {
            let twoGateInputs = hiddenGates != nil
            GraphRecorder.record("lstmCell", inputs: inputs, outputs: [h, c], saved: inputs) { context in
                let gh = context.gradOutputs[0], gc = context.gradOutputs[1]
                let gradients: (gates: Tensor, cPrev: Tensor)
                if ThreadState.current.gradEnabled {
                    let gates = hiddenGates.map { inputGates + $0 } ?? inputGates
                    gradients = differentiableBackward(gates: gates, cPrev: cPrev, gradH: gh, gradC: gc)
                } else {
                    gradients = kernelBackward(saved: saved, cPrev: previous, gradH: gh, gradC: gc)
                }
                return twoGateInputs ? [gradients.gates, gradients.cPrev, gradients.gates] : [gradients.gates, gradients.cPrev]
            }
        }
        return (h, c)
    }

    /// d gates and d c_{t−1} in one pass over the saved activations.
    private static func kernelBackward(saved: Tensor, cPrev: Tensor, gradH: Tensor, gradC: Tensor) -> (gates: Tensor, cPrev: Tensor) {
        let rows = cPrev.shape[0], hidden = cPrev.shape[1], dtype = cPrev.dtype
        let gh = gradH.dtype == dtype ? gradH.contiguous() : gradH.to(dtype).contiguous()
        let gc = gradC.dtype == dtype ? gradC.contiguous() : gradC.to(dtype).contiguous()
        let gradGates = Tensor(uninitializedShape: [rows, 4 * hidden], dtype: dtype)
        let gradPrevious = Tensor(uninitializedShape: [rows, hidden], dtype: dtype)
        backwardKernel(dtype: dtype, rows: rows, hidden: hidden, saved: UnsafeRawPointer(saved.baseAddress),
                       cPrev: UnsafeRawPointer(cPrev.baseAddress), gradH: UnsafeRawPointer(gh.baseAddress),
                       gradC: UnsafeRawPointer(gc.baseAddress), gradGates: gradGates.baseAddress,
                       gradCPrev: gradPrevious.baseAddress)
        return (gradGates, gradPrevious)
    }

    /// `ember_lstm_cell_forward` over contiguous buffers (see ember_recurrent.h), rows split
    /// across cores. Shared with `FusedLSTMLayer`, which points it into its per-step buffers.
    static func forwardKernel(dtype: DType, rows: Int, hidden: Int, inputGates: UnsafeRawPointer,
                              hiddenGates: UnsafeRawPointer?, cPrev: UnsafeRawPointer, h: UnsafeMutableRawPointer,
                              c: UnsafeMutableRawPointer, saved: UnsafeMutableRawPointer?) {
        guard rows > 0 && hidden > 0 else { return }
        let size = dtype.byteSize
        // Five transcendental functions per element: split like the unary transcendental ops.
        ParallelLoop.run(count: rows, grain: max(1, (ElementwiseKernel.grain / 4) / (5 * hidden))) { range in
            let r = range.lowerBound
            ember_lstm_cell_forward(dtype.cType, inputGates + r * 4 * hidden * size,
                                    hiddenGates.map { $0 + r * 4 * hidden * size },
                                    cPrev + r * hidden * size, h + r * hidden * size, c + r * hidden * size,
                                    saved.map { $0 + r * 5 * hidden * size }, Int64(range.count), Int64(hidden))
        }
    }

    /// `ember_lstm_cell_backward` over contiguous buffers, rows split across cores.
    static func backwardKernel(dtype: DType, rows: Int, hidden: Int, saved: UnsafeRawPointer, cPrev: UnsafeRawPointer,
                               gradH: UnsafeRawPointer, gradC: UnsafeRawPointer, gradGates: UnsafeMutableRawPointer,
                               gradCPrev: UnsafeMutableRawPointer) {
        guard rows > 0 && hidden > 0 else { return }
        let size = dtype.byteSize
        ParallelLoop.run(count: rows, grain: max(1, ElementwiseKernel.grain / (9 * hidden))) { range in
            let r = range.lowerBound
            ember_lstm_cell_backward(dtype.cType, saved + r * 5 * hidden * size, cPrev + r * hidden * size,
                                     gradH + r * hidden * size, gradC + r * hidden * size,
                                     gradGates + r * 4 * hidden * size, gradCPrev + r * hidden * size,
                                     Int64(range.count), Int64(hidden))
        }
    }

    /// The same formulas in Tensor ops, recomputing the activations from the (attached) inputs,
    /// so that the gradient is itself differentiable (createGraph).
    static func differentiableBackward(gates: Tensor, cPrev: Tensor, gradH: Tensor, gradC: Tensor) -> (gates: Tensor, cPrev: Tensor) {
        let size = cPrev.shape[1]
        let pieces = gates.splitSharingOneNode(sizes: [size, size, size, size], dim: -1)
        let (i, f, g, o) = (pieces[0].sigmoid(), pieces[1].sigmoid(), pieces[2].tanh(), pieces[3].sigmoid())
        let tanhCell = (f * cPrev + i * g).tanh()
        let dc = gradC + gradH * o * (1 - tanhCell * tanhCell)
        let dGates = Tensor.cat([dc * g * i * (1 - i), dc * cPrev * f * (1 - f), dc * i * (1 - g * g),
                                 gradH * tanhCell * o * (1 - o)], dim: -1)
        return (dGates, dc * f)
    }
}
