import Testing
@testable import Ember

/// RNN, LSTM, GRU and their cells against PyTorch (scripts/fixtures/generate_seq.py): outputs,
/// final states, gradients of inputs, initial states and every parameter, with weights loaded
/// by PyTorch name; gradcheck in float64; naming, initialisation and dropout behaviour.
@Suite struct RecurrentTests {
    static let cases = SequenceFixture.load("seq_recurrent", "seq_cells")
        + SequenceFixture.load("seq_float32").filter { ["RNN", "LSTM", "GRU"].contains($0.kind) }

    @Test(arguments: cases)
    func matchesPyTorch(_ fixture: SequenceFixture) throws {
        try fixture.check()
    }

    @Test func gradcheckLayers() {
        do {
            let x = Tensor.randn([2, 1, 2], dtype: .float64)
            let h0 = Tensor.randn([4, 1, 2], dtype: .float64)
            let rnn = RNN(inputSize: 2, hiddenSize: 2, numLayers: 2, bidirectional: true, dtype: .float64)
            gradcheckModule(rnn, inputs: [x, h0]) { t in let (o, h) = rnn(t[0], t[1]); return [o, h] }
            let gru = GRU(inputSize: 2, hiddenSize: 2, batchFirst: true, dtype: .float64)
            gradcheckModule(gru, inputs: [x, Tensor.randn([1, 2, 2], dtype: .float64)]) { t in let (o, h) = gru(t[0], t[1]); return [o, h] }
            let lstm = LSTM(inputSize: 2, hiddenSize: 2, bidirectional: true, dtype: .float64)
            let c0 = Tensor.randn([2, 1, 2], dtype: .float64)
            gradcheckModule(lstm, inputs: [x, h0[0..<2], c0]) { t in
                let (o, (h, c)) = lstm(t[0], (t[1], t[2])); return [o, h, c]
            }
        }
    }

    @Test func gradcheckCells() {
        let x = Tensor.randn([2, 2], dtype: .float64), h = Tensor.randn([2, 3], dtype: .float64), c = Tensor.randn([2, 3], dtype: .float64)
        let rnn = RNNCell(inputSize: 2, hiddenSize: 3, nonlinearity: .tanh, dtype: .float64)
        gradcheckModule(rnn, inputs: [x, h]) { t in [rnn(t[0], t[1])] }
        let gru = GRUCell(inputSize: 2, hiddenSize: 3, dtype: .float64)
        gradcheckModule(gru, inputs: [x, h]) { t in [gru(t[0], t[1])] }
        let lstm = LSTMCell(inputSize: 2, hiddenSize: 3, dtype: .float64)
        gradcheckModule(lstm, inputs: [x, h, c]) { t in let (h, c) = lstm(t[0], (t[1], t[2])); return [h, c] }
    }

    @Test func parameterNamesFollowPyTorch() {
        let lstm = LSTM(inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true)
        let names = lstm.stateDict().keys
        #expect(names.count == 16)
        #expect(Array(names.prefix(8)) == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                           "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse"])
        #expect(lstm.weights(layer: 1).inputWeight.shape == [16, 8])
        #expect(lstm.weights(layer: 1, reverse: true).hiddenWeight.shape == [16, 4])
        #expect(GRU(inputSize: 3, hiddenSize: 4, bias: false).stateDict().keys == ["weight_ih_l0", "weight_hh_l0"])
        #expect(LSTMCell(inputSize: 2, hiddenSize: 3).stateDict().keys == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"])
        #expect(lstm.parameters().allSatisfy { $0.requiresGrad })
        #expect("\(LSTM(inputSize: 3, hiddenSize: 4, numLayers: 2, batchFirst: true))" == "LSTM(3, 4, num_layers=2, batch_first=True)")
    }

    @Test func initialisationIsUniformInInverseSqrtHidden() {
        let gru = GRU(inputSize: 5, hiddenSize: 16, numLayers: 2, dtype: .float64)
        let values = gru.parameters().flatMap { $0.scalars(as: Double.self) }
        #expect(values.allSatisfy { abs($0) <= 0.25 })
        #expect(values.map(abs).max()! > 0.2)   // spread over the whole range, not zeros
        let converted = gru.to(dtype: .float32)
        #expect(converted.weights(layer: 1).inputWeight.dtype == .float32)
    }

    @Test func dropoutOnlyBetweenLayersAndOnlyInTraining() {
        let x = Tensor.randn([4, 2, 3])
        let single = LSTM(inputSize: 3, hiddenSize: 4, dropout: 0.9)
        // One layer: nothing to drop between, training output equals evaluation output.
        let training = single(x).output
        expectClose(training, single.eval()(x).output)
        let stacked = GRU(inputSize: 3, hiddenSize: 4, numLayers: 2, dropout: 0.9, generator: RandomGenerator(seed: 1))
        let dropped = stacked(x).output
        let evaluated = stacked.eval()(x).output
        #expect(dropped.scalars(as: Float.self) != evaluated.scalars(as: Float.self))
        expectClose(stacked(x).output, evaluated)
    }

    @Test func unbindSharesOneNodeAndJoinsGradients() {
        let x = Tensor.randn([3, 2], dtype: .float64).requiresGrad_()
        let pieces = x.unbind(dim: 0)
        #expect(pieces.map(\.shape) == [[2], [2], [2]])
        #expect(pieces[0].gradFunction === pieces[2].gradFunction)
        (pieces[0] * 2.0 + pieces[2]).sum().backward()
        expectClose(x.grad!, Tensor([[2, 2], [0, 0], [1, 1]] as [[Double]]))
        expectClose(x.unbind(dim: 1)[1], x.detach()[0..., 1])
    }

    @Test func shapeErrors() async {
        await #expect(processExitsWith: .failure) {
            _ = LSTM(inputSize: 3, hiddenSize: 4)(Tensor.zeros([2, 1, 5]))
        }
        await #expect(processExitsWith: .failure) {
            _ = GRU(inputSize: 3, hiddenSize: 4, numLayers: 2)(Tensor.zeros([2, 1, 3]), Tensor.zeros([1, 1, 4]))
        }
    }
}
