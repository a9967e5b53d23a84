// Single-step recurrent cells: `RNNCell`, `LSTMCell`, `GRUCell`, like PyTorch's. They share
// the step arithmetic with the layers (`RecurrentStep` in Recurrent.swift) and PyTorch's
// parameter names `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`.

/// The parameters and checks shared by the cells; use `RNNCell`, `LSTMCell` or `GRUCell`.
public class RecurrentCell: Module {
    /// [gates·hiddenSize, inputSize].
    @Parameter("weight_ih") public var weightIH: Tensor
    /// [gates·hiddenSize, hiddenSize].
    @Parameter("weight_hh") public var weightHH: Tensor
    /// [gates·hiddenSize], nil without bias.
    @Parameter("bias_ih") public var biasIH: Tensor?
    /// [gates·hiddenSize], nil without bias.
    @Parameter("bias_hh") public var biasHH: Tensor?
    /// Features of the input.
    public let inputSize: Int
    /// Features of the hidden state.
    public let hiddenSize: Int

    init(gates: Int, inputSize: Int, hiddenSize: Int, bias: Bool, dtype: DType) {
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        super.init()
        weightIH = Tensor.zeros([gates * hiddenSize, inputSize], dtype: dtype)
        weightHH = Tensor.zeros([gates * hiddenSize, hiddenSize], dtype: dtype)
        biasIH = bias ? Tensor.zeros([gates * hiddenSize], dtype: dtype) : nil
        biasHH = bias ? Tensor.zeros([gates * hiddenSize], dtype: dtype) : nil
        resetParameters()
    }

    /// Draws every parameter uniform in ±1/√hiddenSize, as PyTorch does.
    public func resetParameters() {
        let bound = 1 / Double(hiddenSize).squareRoot()
        for parameter in parameters() { Initializers.uniform_(parameter, low: -bound, high: bound) }
    }

    /// The input as [B, inputSize] (a 1-D input gets a batch of one) and whether it was batched.
    func prepare(_ input: Tensor, _ states: [Tensor?]) -> (input: Tensor, states: [Tensor], batched: Bool) {
        let name = String(describing: type(of: self))
        emberPrecondition(input.rank == 1 || input.rank == 2, "\(name): Expected input to be 1D or 2D, got \(input.rank)D instead")
        emberPrecondition(input.shape.last == inputSize,
                          "\(name): input has inconsistent input_size: got \(input.shape.last!) expected \(inputSize)")
        let batched = input.rank == 2
        let x = batched ? input : input.unsqueezed(0)
        let shape = [x.shape[0], hiddenSize]
        let prepared = states.map { state -> Tensor in
            guard let state else { return Tensor.zeros(shape, dtype: x.dtype) }
            let h = batched ? state : state.unsqueezed(0)
            emberPrecondition(h.shape == shape && state.rank == input.rank,
                              "\(name): Expected hidden size \(batched ? shape : [hiddenSize]), got \(state.shape)")
            return h
        }
        return (x, prepared, batched)
    }

    /// x W_ihᵀ + b_ih.
    func projectInput(_ x: Tensor) -> Tensor { Functional.linear(x, weight: weightIH, bias: biasIH) }

    public override var extraDescription: String {
        "\(inputSize), \(hiddenSize)" + (biasIH == nil ? ", bias=False" : "")
    }
}

/// One step of an Elman RNN, like `torch.nn.RNNCell`: h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh).
///
///     let cell = RNNCell(inputSize: 3, hiddenSize: 4)
///     var h = Tensor.zeros([2, 4])
///     for x in sequence { h = cell(x, h) }
public final class RNNCell: RecurrentCell {
    /// The nonlinearity.
    public let nonlinearity: RNNNonlinearity

    /// A cell with PyTorch's initialisation.
    public init(inputSize: Int, hiddenSize: Int, bias: Bool = true, nonlinearity: RNNNonlinearity = .tanh, dtype: DType = .float32) {
        self.nonlinearity = nonlinearity
        super.init(gates: 1, inputSize: inputSize, hiddenSize: hiddenSize, bias: bias, dtype: dtype)
    }

    /// The next hidden state from `input` ([B, inputSize] or [inputSize]) and `h` (zeros when nil).
    public func callAsFunction(_ input: Tensor, _ h: Tensor? = nil) -> Tensor {
        let (x, states, batched) = prepare(input, [h])
        let next = RecurrentStep.rnn(projectedInput: projectInput(x), states[0], weightHH, hiddenBias: biasHH,
                                     relu: nonlinearity == .relu)
        return batched ? next : next.squeezed(0)
    }
}

/// One step of an LSTM, like `torch.nn.LSTMCell`; returns (h', c').
///
///     let cell = LSTMCell(inputSize: 3, hiddenSize: 4)
///     let (h, c) = cell(Tensor.randn([2, 3]))
public final class LSTMCell: RecurrentCell {
    /// A cell with PyTorch's initialisation.
    public init(inputSize: Int, hiddenSize: Int, bias: Bool = true, dtype: DType = .float32) {
        super.init(gates: 4, inputSize: inputSize, hiddenSize: hiddenSize, bias: bias, dtype: dtype)
    }

    /// The next (h, c) from `input` and `state` (zeros when nil).
    public func callAsFunction(_ input: Tensor, _ state: (h: Tensor, c: Tensor)? = nil) -> (h: Tensor, c: Tensor) {
        let (x, states, batched) = prepare(input, [state?.h, state?.c])
        let (h, c) = RecurrentStep.lstm(projectedInput: projectInput(x), states[0], states[1], weightHH, hiddenBias: biasHH)
        return batched ? (h, c) : (h.squeezed(0), c.squeezed(0))
    }
}

/// One step of a GRU, like `torch.nn.GRUCell`.
///
///     let cell = GRUCell(inputSize: 3, hiddenSize: 4)
///     let h = cell(Tensor.randn([2, 3]))
public final class GRUCell: RecurrentCell {
    /// A cell with PyTorch's initialisation.
    public init(inputSize: Int, hiddenSize: Int, bias: Bool = true, dtype: DType = .float32) {
        super.init(gates: 3, inputSize: inputSize, hiddenSize: hiddenSize, bias: bias, dtype: dtype)
    }

    /// The next hidden state from `input` and `h` (zeros when nil).
    public func callAsFunction(_ input: Tensor, _ h: Tensor? = nil) -> Tensor {
        let (x, states, batched) = prepare(input, [h])
        let next = RecurrentStep.gru(projectedInput: projectInput(x), states[0], weightHH, hiddenBias: biasHH)
        return batched ? next : next.squeezed(0)
    }
}
