// Recurrent layers: `RNN`, `LSTM`, `GRU`, built on `RecurrentLayer`, which holds the
// parameters under PyTorch's names and runs the layers and directions.
//
// How a layer runs: for each layer and direction, the input projection of *all* time steps is
// one matrix product ([T·B, in] · [in, gates·H]); only the hidden projection h · W_hhᵀ and the
// gate arithmetic run per step. The projected input is cut into steps by `unbind`, which
// records one node for all T steps (a `select` per step would zero-fill a full [T, B, G]
// gradient per step in backward). Everything is composed from Tensor ops, so gradients of
// any order come from their rules, except LSTM: its whole recurrence over the steps is one op
// per layer and direction (`FusedLSTMLayer`, Ops/FusedLSTMLayer.swift), whose backward through
// time computes W_hh's gradient as one product over all steps; its per-step gate arithmetic is
// the fused cell kernel (`FusedLSTMCell`), which `LSTMCell` and the step-by-step path use too.
// Both have a kernel backward and a Tensor-op backward for createGraph.

/// The nonlinearity of a plain `RNN` or `RNNCell`.
public enum RNNNonlinearity: Sendable {
    case tanh, relu
}

/// Which recurrence a `RecurrentLayer` runs.
public enum RecurrentMode: Sendable {
    case rnnTanh, rnnRelu, lstm, gru

    /// Number of gate blocks in the weights: 4 for LSTM (i, f, g, o), 3 for GRU (r, z, n).
    public var gateCount: Int {
        switch self {
        case .lstm: 4
        case .gru: 3
        case .rnnTanh, .rnnRelu: 1
        }
    }
}

/// The tensors of one layer and direction, as PyTorch names them (`weight_ih_l0` …).
public struct RecurrentWeights {
    /// [gates·hiddenSize, inputSize] (`weight_ih_l{k}`).
    public let inputWeight: Tensor
    /// [gates·hiddenSize, hiddenSize] (`weight_hh_l{k}`).
    public let hiddenWeight: Tensor
    /// [gates·hiddenSize] (`bias_ih_l{k}`), nil without bias.
    public let inputBias: Tensor?
    /// [gates·hiddenSize] (`bias_hh_l{k}`), nil without bias.
    public let hiddenBias: Tensor?
}

/// The machinery shared by `RNN`, `LSTM` and `GRU`, like PyTorch's `RNNBase`: parameters
/// `weight_ih_l{k}`, `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}` (with `_reverse` for the
/// backward direction), initialised uniform in ±1/√hiddenSize, and the loop over layers,
/// directions and time steps. Use one of the subclasses.
public class RecurrentLayer: Module {
    /// The recurrence.
    public let mode: RecurrentMode
    /// Features per input step.
    public let inputSize: Int
    /// Features of the hidden state.
    public let hiddenSize: Int
    /// Number of stacked layers.
    public let numLayers: Int
    /// Whether the layers have bias vectors.
    public let hasBias: Bool
    /// Input and output are [batch, seq, feature] rather than [seq, batch, feature].
    public let batchFirst: Bool
    /// Dropout probability on the outputs of every layer but the last, in training mode.
    public let dropout: Double
    /// Whether each layer also runs backwards in time (outputs concatenated).
    public let bidirectional: Bool
    /// Source of the dropout masks.
    public let generator: RandomGenerator
    /// The parameters in PyTorch's order (per layer, per direction: weight_ih, weight_hh,
    /// bias_ih, bias_hh). Their number depends on the configuration, so they are listed by
    /// `discoverMembers` rather than declared as properties.
    let slots: [Parameter<Tensor>]
    /// Whether an LSTM layer runs as one `FusedLSTMLayer` op per layer and direction (the
    /// default) or step by step; tests compare the two.
    var fusesLSTMLayers = true

    /// Number of directions: 2 when bidirectional, else 1.
    public var directionCount: Int { bidirectional ? 2 : 1 }

    init(mode: RecurrentMode, inputSize: Int, hiddenSize: Int, numLayers: Int, bias: Bool, batchFirst: Bool,
         dropout: Double, bidirectional: Bool, dtype: DType, generator: RandomGenerator) {
        let name = "\(mode)".uppercased()
        emberPrecondition(inputSize > 0 && hiddenSize > 0, "\(name): input_size and hidden_size must be positive, got \(inputSize) and \(hiddenSize)")
        emberPrecondition(numLayers > 0, "\(name): num_layers must be greater than or equal to 1, got \(numLayers)")
        emberPrecondition(dropout >= 0 && dropout <= 1,
                          "\(name): dropout should be a number in range [0, 1] representing the probability of an element being zeroed, got \(dropout)")
        self.mode = mode
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.numLayers = numLayers
        self.hasBias = bias
        self.batchFirst = batchFirst
        self.dropout = dropout
        self.bidirectional = bidirectional
        self.generator = generator
        let gates = mode.gateCount * hiddenSize
        var slots: [Parameter<Tensor>] = []
        for layer in 0..<numLayers {
            let layerInput = layer == 0 ? inputSize : hiddenSize * (bidirectional ? 2 : 1)
            for direction in 0..<(bidirectional ? 2 : 1) {
                let suffix = "_l\(layer)" + (direction == 1 ? "_reverse" : "")
                slots.append(Parameter(wrappedValue: Tensor.zeros([gates, layerInput], dtype: dtype), "weight_ih" + suffix))
                slots.append(Parameter(wrappedValue: Tensor.zeros([gates, hiddenSize], dtype: dtype), "weight_hh" + suffix))
                if bias {
                    slots.append(Parameter(wrappedValue: Tensor.zeros([gates], dtype: dtype), "bias_ih" + suffix))
                    slots.append(Parameter(wrappedValue: Tensor.zeros([gates], dtype: dtype), "bias_hh" + suffix))
                }
            }
        }
        self.slots = slots
        super.init()
        resetParameters()
    }

    override func discoverMembers() -> ModuleMembers {
        var members = ModuleMembers()
        members.tensors = slots.map { ($0.explicitName!, $0 as TensorSlot) }
        return members
    }

    /// Draws every parameter uniform in ±1/√hiddenSize, as PyTorch does.
    public func resetParameters() {
        let bound = 1 / Double(hiddenSize).squareRoot()
        for slot in slots { Initializers.uniform_(slot.wrappedValue, low: -bound, high: bound, generator: generator) }
    }

    /// The weights of `layer` in the forward (or, with `reverse`, backward) direction.
    ///
    ///     LSTM(inputSize: 3, hiddenSize: 4).weights(layer: 0).inputWeight.shape   // [16, 3]
    public func weights(layer: Int, reverse: Bool = false) -> RecurrentWeights {
        emberPrecondition(layer >= 0 && layer < numLayers && (!reverse || bidirectional),
                          "\(type(of: self)): no weights for layer \(layer)\(reverse ? " (reverse)" : "")")
        let perDirection = hasBias ? 4 : 2
        let first = (layer * directionCount + (reverse ? 1 : 0)) * perDirection
        return RecurrentWeights(inputWeight: slots[first].wrappedValue, hiddenWeight: slots[first + 1].wrappedValue,
                                inputBias: hasBias ? slots[first + 2].wrappedValue : nil,
                                hiddenBias: hasBias ? slots[first + 3].wrappedValue : nil)
    }

    /// Runs every layer and direction. `initial` holds h0 (and c0 for LSTM), each
    /// [layers·directions, batch, hidden] (or without the batch dimension for unbatched input);
    /// returns the last layer's output and the final states in the same layout.
    func run(_ input: Tensor, initial: [Tensor]?) -> (output: Tensor, final: [Tensor]) {
        let name = String(describing: type(of: self))
        emberPrecondition(input.rank == 2 || input.rank == 3,
                          "\(name): Expected input to be 2D or 3D, got \(input.rank)D instead")
        emberPrecondition(input.shape.last == inputSize,
                          "\(name): input.size(-1) must be equal to input_size. Expected \(inputSize), got \(input.shape.last!)")
        emberPrecondition(input.dtype == slots[0].wrappedValue.dtype,
                          "\(name): input dtype \(input.dtype) does not match the parameters' dtype \(slots[0].wrappedValue.dtype)")
        let isBatched = input.rank == 3
        // Internally [T, B, features].
        var x = isBatched ? (batchFirst ? input.transposed(0, 1) : input) : input.unsqueezed(1)
        let batch = x.shape[1]
        let stateShape = [numLayers * directionCount, batch, hiddenSize]
        let stateCount = mode == .lstm ? 2 : 1
        let initialStates: [[Tensor]]? = initial.map { states in
            states.map { state in
                let batched = isBatched ? state : state.unsqueezed(1)
                emberPrecondition(batched.shape == stateShape && state.rank == (isBatched ? 3 : 2),
                                  "\(name): Expected hidden size \(isBatched ? stateShape : [stateShape[0], hiddenSize]), got \(state.shape)")
                return batched.unbind(dim: 0)
            }
        }
        var final: [[Tensor]] = Array(repeating: [], count: stateCount)
        for layer in 0..<numLayers {
            var directionOutputs: [Tensor] = []
            for direction in 0..<directionCount {
                let index = layer * directionCount + direction
                let start = initialStates?.map { $0[index] }
                    ?? Array(repeating: Tensor.zeros([batch, hiddenSize], dtype: x.dtype), count: stateCount)
                let (output, last) = runDirection(x, weights: weights(layer: layer, reverse: direction == 1),
                                                  state: start, reverse: direction == 1)
                directionOutputs.append(output)
                for s in 0..<stateCount { final[s].append(last[s]) }
            }
            x = directionCount == 1 ? directionOutputs[0] : Tensor.cat(directionOutputs, dim: 2)
            if layer < numLayers - 1 && dropout > 0 && isTraining {
                x = Functional.dropout(x, p: dropout, training: true, generator: generator)
            }
        }
        var states = final.map { Tensor.stack($0, dim: 0) }
        if !isBatched {
            x = x.squeezed(1)
            states = states.map { $0.squeezed(1) }
        } else if batchFirst {
            x = x.transposed(0, 1)
        }
        return (x, states)
    }

    /// One layer in one direction over [T, B, in]; returns [T, B, H] and the last state(s).
    private func runDirection(_ x: Tensor, weights w: RecurrentWeights, state: [Tensor], reverse: Bool) -> (Tensor, [Tensor]) {
        let steps = x.shape[0], batch = x.shape[1]
        var projected = x.reshaped([steps * batch, x.shape[2]]).matmul(w.inputWeight.t)
        // LSTM and plain RNN add both biases before any nonlinearity, so they are added once
        // for all steps; GRU's b_hn sits inside r ⊙ (W_hn h + b_hn) and stays in the step.
        var hiddenBias: Tensor? = nil
        if let inputBias = w.inputBias, let bias = w.hiddenBias {
            if mode == .gru {
                projected = projected + inputBias
                hiddenBias = bias
            } else {
                projected = projected + (inputBias + bias)
            }
        }
        let projectedSteps = projected.reshaped([steps, batch, projected.shape[1]])
        if mode == .lstm && hiddenBias == nil && fusesLSTMLayers,
           FusedLSTMLayer.supports(inputGates: projectedSteps, hiddenWeight: w.hiddenWeight, h0: state[0], c0: state[1]) {
            let result = FusedLSTMLayer.apply(inputGates: projectedSteps, hiddenWeight: w.hiddenWeight,
                                              h0: state[0], c0: state[1], reverse: reverse)
            return (result.output, [result.h, result.c])
        }
        let inputs = projectedSteps.unbind(dim: 0)
        // Transposed per step (a view), not once per layer: each step's weight gradient then
        // goes straight to the leaf and is added in place, in W_hh's layout. A shared view
        // would sum 32 transposed gradients in its node first, through the strided kernel
        // (measured at a fifth of the LSTM benchmark).
        let hiddenWeight = w.hiddenWeight
        var h = state[0]
        var c = state.count > 1 ? state[1] : h
        var outputs = [Tensor](repeating: h, count: steps)
        for t in reverse ? Array((0..<steps).reversed()) : Array(0..<steps) {
            switch mode {
            case .rnnTanh, .rnnRelu:
                h = RecurrentStep.rnn(projectedInput: inputs[t], h, hiddenWeight, hiddenBias: hiddenBias, relu: mode == .rnnRelu)
            case .lstm:
                (h, c) = RecurrentStep.lstm(projectedInput: inputs[t], h, c, hiddenWeight, hiddenBias: hiddenBias)
            case .gru:
                h = RecurrentStep.gru(projectedInput: inputs[t], h, hiddenWeight, hiddenBias: hiddenBias)
            }
            outputs[t] = h
        }
        return (Tensor.stack(outputs, dim: 0), mode == .lstm ? [h, c] : [h])
    }

    public override var extraDescription: String {
        var parts = ["\(inputSize), \(hiddenSize)"]
        if numLayers != 1 { parts.append("num_layers=\(numLayers)") }
        if !hasBias { parts.append("bias=False") }
        if batchFirst { parts.append("batch_first=True") }
        if dropout != 0 { parts.append("dropout=\(dropout)") }
        if bidirectional { parts.append("bidirectional=True") }
        return parts.joined(separator: ", ")
    }
}

/// An Elman RNN, like `torch.nn.RNN`: h_t = tanh(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh)
/// (or relu), stacked `numLayers` deep, optionally bidirectional.
///
///     let rnn = RNN(inputSize: 10, hiddenSize: 20, numLayers: 2)
///     let (output, hN) = rnn(Tensor.randn([5, 3, 10]))   // output [5, 3, 20], hN [2, 3, 20]
public final class RNN: RecurrentLayer {
    /// A layer with PyTorch's defaults and initialisation.
    public init(inputSize: Int, hiddenSize: Int, numLayers: Int = 1, nonlinearity: RNNNonlinearity = .tanh,
                bias: Bool = true, batchFirst: Bool = false, dropout: Double = 0, bidirectional: Bool = false,
                dtype: DType = .float32, generator: RandomGenerator = .default) {
        super.init(mode: nonlinearity == .tanh ? .rnnTanh : .rnnRelu, inputSize: inputSize, hiddenSize: hiddenSize,
                   numLayers: numLayers, bias: bias, batchFirst: batchFirst, dropout: dropout,
                   bidirectional: bidirectional, dtype: dtype, generator: generator)
    }

    /// Runs over `input` ([T, B, inputSize], [B, T, inputSize] when `batchFirst`, or unbatched
    /// [T, inputSize]) from `h0` ([layers·directions, B, hiddenSize]; zeros when nil).
    /// Returns every step's last-layer output ([T, B, directions·hiddenSize]) and the final
    /// hidden state of every layer and direction.
    public func callAsFunction(_ input: Tensor, _ h0: Tensor? = nil) -> (output: Tensor, hN: Tensor) {
        let (output, final) = run(input, initial: h0.map { [$0] })
        return (output, final[0])
    }

    public override var extraDescription: String {
        super.extraDescription + (mode == .rnnRelu ? ", nonlinearity='relu'" : "")
    }
}

/// A long short-term memory layer, like `torch.nn.LSTM`, with PyTorch's gate order
/// (input, forget, cell, output):
/// c_t = f ⊙ c_{t−1} + i ⊙ g, h_t = o ⊙ tanh(c_t).
///
///     let lstm = LSTM(inputSize: 64, hiddenSize: 128, batchFirst: true)
///     let (output, (hN, cN)) = lstm(Tensor.randn([16, 32, 64]))   // output [16, 32, 128]
public final class LSTM: RecurrentLayer {
    /// A layer with PyTorch's defaults and initialisation.
    public init(inputSize: Int, hiddenSize: Int, numLayers: Int = 1, bias: Bool = true, batchFirst: Bool = false,
                dropout: Double = 0, bidirectional: Bool = false, dtype: DType = .float32,
                generator: RandomGenerator = .default) {
        super.init(mode: .lstm, inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias,
                   batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional, dtype: dtype,
                   generator: generator)
    }

    /// Runs over `input` from `state` (h0 and c0, each [layers·directions, B, hiddenSize];
    /// zeros when nil). Returns every step's last-layer output and the final (hN, cN).
    public func callAsFunction(_ input: Tensor, _ state: (h: Tensor, c: Tensor)? = nil)
        -> (output: Tensor, state: (h: Tensor, c: Tensor)) {
        let (output, final) = run(input, initial: state.map { [$0.h, $0.c] })
        return (output, (final[0], final[1]))
    }
}

/// A gated recurrent unit layer, like `torch.nn.GRU`, with PyTorch's gate order and form:
/// r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(…), n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),
/// h' = (1 − z) ⊙ n + z ⊙ h.
///
///     let gru = GRU(inputSize: 8, hiddenSize: 16, bidirectional: true)
///     let (output, hN) = gru(Tensor.randn([5, 2, 8]))   // output [5, 2, 32], hN [2, 2, 16]
public final class GRU: RecurrentLayer {
    /// A layer with PyTorch's defaults and initialisation.
    public init(inputSize: Int, hiddenSize: Int, numLayers: Int = 1, bias: Bool = true, batchFirst: Bool = false,
                dropout: Double = 0, bidirectional: Bool = false, dtype: DType = .float32,
                generator: RandomGenerator = .default) {
        super.init(mode: .gru, inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias,
                   batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional, dtype: dtype,
                   generator: generator)
    }

    /// Runs over `input` from `h0` (zeros when nil); returns the outputs and the final state.
    public func callAsFunction(_ input: Tensor, _ h0: Tensor? = nil) -> (output: Tensor, hN: Tensor) {
        let (output, final) = run(input, initial: h0.map { [$0] })
        return (output, final[0])
    }
}

/// One time step of each recurrence, shared by the layers and the cells. `projectedInput` is
/// x W_ihᵀ (+ the biases folded in by the caller), `hiddenWeight` is W_hh.
enum RecurrentStep {
    static func rnn(projectedInput: Tensor, _ h: Tensor, _ hiddenWeight: Tensor, hiddenBias: Tensor?, relu: Bool) -> Tensor {
        var preactivation = projectedInput + h.matmul(hiddenWeight.t)
        if let hiddenBias { preactivation = preactivation + hiddenBias }
        return relu ? preactivation.relu() : preactivation.tanh()
    }

    /// With `fused` (the default) the gate arithmetic is one `FusedLSTMCell` op (one kernel and
    /// one node per step, which also adds the two projections); without it, or for dtypes and
    /// shapes the fused op does not take, it is composed from Tensor ops.
    static func lstm(projectedInput: Tensor, _ h: Tensor, _ c: Tensor, _ hiddenWeight: Tensor,
                     hiddenBias: Tensor?, fused: Bool = true) -> (h: Tensor, c: Tensor) {
        let hidden = h.matmul(hiddenWeight.t)
        if fused {
            // Same additions in the same order as the composed path: (x W_ihᵀ + h W_hhᵀ) + b_hh.
            if hiddenBias == nil, FusedLSTMCell.supports(projectedInput, hidden, c) {
                return FusedLSTMCell.apply(inputGates: projectedInput, hiddenGates: hidden, cPrev: c)
            }
            if let hiddenBias {
                let gates = projectedInput + hidden + hiddenBias
                if FusedLSTMCell.supports(gates, nil, c) { return FusedLSTMCell.apply(inputGates: gates, hiddenGates: nil, cPrev: c) }
            }
        }
        var gates = projectedInput + hidden
        if let hiddenBias { gates = gates + hiddenBias }
        let size = h.shape[h.rank - 1]
        let pieces = gates.splitSharingOneNode(sizes: [size, size, size, size], dim: -1)
        let (i, f, g, o) = (pieces[0].sigmoid(), pieces[1].sigmoid(), pieces[2].tanh(), pieces[3].sigmoid())
        let cell = f * c + i * g
        return (o * cell.tanh(), cell)
    }

    static func gru(projectedInput: Tensor, _ h: Tensor, _ hiddenWeight: Tensor, hiddenBias: Tensor?) -> Tensor {
        var hidden = h.matmul(hiddenWeight.t)
        if let hiddenBias { hidden = hidden + hiddenBias }
        let size = h.shape[h.rank - 1]
        let fromInput = projectedInput.splitSharingOneNode(sizes: [2 * size, size], dim: -1)
        let fromHidden = hidden.splitSharingOneNode(sizes: [2 * size, size], dim: -1)
        let resetUpdate = (fromInput[0] + fromHidden[0]).sigmoid().splitSharingOneNode(sizes: [size, size], dim: -1)
        let candidate = (fromInput[1] + resetUpdate[0] * fromHidden[1]).tanh()
        return candidate + resetUpdate[1] * (h - candidate)
    }
}
