import Ember

// ONNX's GRU and RNN (default activations), step by step in Ember primitives: the input
// projection of all steps at once, then per step the hidden product and the gate arithmetic.
// (ONNX's LSTM runs as Ember's fused recurrence; see ONNXNetworkOperators.swift.)

extension ONNXOperators {
    static let recurrentOperators: [String: ONNXOperator] = [
        "GRU": { node in try recurrence(node, gates: 3) },
        "RNN": { node in try recurrence(node, gates: 1) },
    ]

    /// GRU (`gates` 3: z, r, h) or RNN (`gates` 1) over every direction.
    static func recurrence(_ node: ONNXNode, gates: Int) throws -> [Tensor] {
        var x = try node.input(0)
        let w = try node.input(1), r = try node.input(2)
        let hidden = try node.int("hidden_size")
        let direction = node.string("direction", "forward")
        let directions = direction == "bidirectional" ? 2 : 1
        guard node.optional(4) == nil, !node.has("clip"), node.ints("activations") == nil || node.ints("activations") == [],
              !node.proto.attribute.contains(where: { $0.name == "activations" && !$0.strings.isEmpty }) else {
            throw node.fail("sequence_lens, clip and custom activations are not supported")
        }
        let batchFirst = try node.int("layout", 0) == 1
        let linearBeforeReset = try node.int("linear_before_reset", 0) != 0
        if batchFirst { x = try node.run(.permute([1, 0, 2]), x) }
        guard x.rank == 3, w.shape == [directions, gates * hidden, x.shape[2]], r.shape == [directions, gates * hidden, hidden] else {
            throw node.fail("expected X [T, B, I], W [\(directions), \(gates)H, I], R [\(directions), \(gates)H, H], got \(x.shape), \(w.shape), \(r.shape)")
        }
        let (steps, batch) = (x.shape[0], x.shape[1])
        func all(_ t: Tensor) -> [SliceComponent] { t.shape.map { .range(start: 0, end: $0, step: 1) } }
        func pick(_ t: Tensor, _ d: Int) throws -> Tensor { try node.run(.slice([.index(d)] + all(t).dropFirst()), t) }
        func columns(_ t: Tensor, _ gate: Int) throws -> Tensor {  // gate's block of the last dimension
            var components = all(t)
            components[t.rank - 1] = .range(start: gate * hidden, end: (gate + 1) * hidden, step: 1)
            return try node.run(.slice(components), t)
        }
        var outputs: [Tensor] = [], finals: [Tensor] = []
        for d in 0..<directions {
            let inputWeight = try pick(w, d), hiddenWeightT = try node.run(.permute([1, 0]), pick(r, d))
            var projected = try node.run(.matmul, node.reshape(x, [steps * batch, x.shape[2]]), node.run(.permute([1, 0]), inputWeight))
            var hiddenBias: Tensor? = nil
            if let b = node.optional(3) {
                guard b.shape == [directions, 2 * gates * hidden] else { throw node.fail("B has shape \(b.shape)") }
                let biases = try pick(b, d)
                projected = try node.run(.binary("add"), projected, node.run(.slice([.range(start: 0, end: gates * hidden, step: 1)]), biases))
                hiddenBias = try node.run(.slice([.range(start: gates * hidden, end: 2 * gates * hidden, step: 1)]), biases)
            }
            projected = try node.reshape(projected, [steps, batch, gates * hidden])
            var h: Tensor
            if let initial = node.optional(5) {
                let s = batchFirst ? try node.run(.permute([1, 0, 2]), initial) : initial
                guard s.shape == [directions, batch, hidden] else { throw node.fail("initial_h has shape \(s.shape)") }
                h = try pick(s, d)
            } else {
                h = withNoGrad { Tensor.zeros([batch, hidden], dtype: x.dtype) }
            }
            var states = [Tensor?](repeating: nil, count: steps)
            let reverse = direction == "reverse" || d == 1
            for t in reverse ? Array((0..<steps).reversed()) : Array(0..<steps) {
                let xt = try pick(projected, t)
                var ht = try node.run(.matmul, h, hiddenWeightT)
                if let hiddenBias { ht = try node.run(.binary("add"), ht, hiddenBias) }
                if gates == 1 {
                    h = try node.run(.unary("tanh"), node.run(.binary("add"), xt, ht))
                } else {
                    let z = try node.run(.unary("sigmoid"), node.run(.binary("add"), columns(xt, 0), columns(ht, 0)))
                    let reset = try node.run(.unary("sigmoid"), node.run(.binary("add"), columns(xt, 1), columns(ht, 1)))
                    let candidateHidden: Tensor
                    if linearBeforeReset {
                        candidateHidden = try node.run(.binary("mul"), reset, columns(ht, 2))
                    } else {
                        // (r ⊙ h) · R_hᵀ + Rb_h: the hidden product again, on the reset state.
                        let hT = try columns(hiddenWeightT, 2)
                        var product = try node.run(.matmul, node.run(.binary("mul"), reset, h), hT)
                        if let hiddenBias { product = try node.run(.binary("add"), product, columns(hiddenBias, 2)) }
                        candidateHidden = product
                    }
                    let candidate = try node.run(.unary("tanh"), node.run(.binary("add"), columns(xt, 2), candidateHidden))
                    // (1 - z) ⊙ candidate + z ⊙ h = candidate + z ⊙ (h - candidate)
                    h = try node.run(.binary("add"), candidate, node.run(.binary("mul"), z, node.run(.binary("sub"), h, candidate)))
                }
                states[t] = h
            }
            outputs.append(try node.run(.concatenate(dim: 0), states.map { try node.reshape($0!, [1, 1, batch, hidden]) }))
            finals.append(try node.reshape(h, [1, batch, hidden]))
        }
        var y = try node.run(.concatenate(dim: 1), outputs)
        var yH = try node.run(.concatenate(dim: 0), finals)
        if batchFirst {
            y = try node.run(.permute([2, 0, 1, 3]), y)
            yH = try node.run(.permute([1, 0, 2]), yH)
        }
        return [y, yH]
    }
}
