import Foundation
import Testing
@testable import Ember

/// A layer case from scripts/fixtures/generate_nn_layers.py (PyTorch references).
struct LayerFixture: Decodable, CustomTestStringConvertible {
    let name: String
    let layer: String
    let args: [String: FixtureParameter?]
    let dtype: String
    let state: [String: FixtureTensor]
    let trainSteps: [FixtureTensor]
    let inputs: [FixtureTensor]
    let output: FixtureTensor
    let gradOutput: FixtureTensor
    let inputGrads: [FixtureTensor?]
    let paramGrads: [String: FixtureTensor]
    let finalState: [String: FixtureTensor]
    let evalInput: FixtureTensor?
    let evalOutput: FixtureTensor?
    var testDescription: String { name }

    var dataType: DType { dtype == "float64" ? .float64 : .float32 }
    func int(_ key: String) -> Int { args[key]!!.int }
    func double(_ key: String) -> Double? { args[key].flatMap { $0 }.map(\.number) }
    func flag(_ key: String) -> Bool { args[key]!!.flag }

    static func load(_ name: String) -> [LayerFixture] {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures")
                ?? Bundle.module.url(forResource: name, withExtension: "json") else {
            fatalError("fixture \(name).json is missing; run scripts/fixtures/generate_nn_layers.py")
        }
        struct File: Decodable { let cases: [LayerFixture] }
        do {
            return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases
        } catch {
            fatalError("fixture \(name).json is unreadable: \(error)")
        }
    }

    /// The Ember layer with the fixture's constructor arguments (weights come from `state`).
    func makeModule() -> Module {
        let dtype = dataType
        switch layer {
        case "Linear": return Linear(int("in"), int("out"), bias: flag("bias"), dtype: dtype)
        case "Bilinear": return Bilinear(int("in1"), int("in2"), int("out"), bias: flag("bias"), dtype: dtype)
        case "Identity": return Identity()
        case "Flatten": return Flatten(startDim: int("startDim"), endDim: int("endDim"))
        case "Embedding":
            return Embedding(numEmbeddings: int("num"), embeddingDim: int("dim"), paddingIndex: double("padding_idx").map { Int($0) }, dtype: dtype)
        case "LayerNorm":
            return LayerNorm(normalizedShape: args["shape"]!!.ints, eps: double("eps") ?? 1e-5, elementwiseAffine: flag("affine"), dtype: dtype)
        case "GroupNorm": return GroupNorm(numGroups: int("groups"), numChannels: int("channels"), affine: flag("affine"), dtype: dtype)
        case "BatchNorm1d": return BatchNorm1d(int("features"), momentum: double("momentum"), dtype: dtype)
        case "BatchNorm2d": return BatchNorm2d(int("features"), momentum: double("momentum"), dtype: dtype)
        case "ReLU": return ReLU()
        case "GELU":
            if case .text(let mode) = args["approximate"]!! { return GELU(approximate: mode == "tanh" ? .tanh : .exact) }
            fatalError("GELU fixture without approximate")
        case "SiLU": return SiLU()
        case "Tanh": return Tanh()
        case "Sigmoid": return Sigmoid()
        case "Softmax": return Softmax(dim: int("dim"))
        case "LogSoftmax": return LogSoftmax(dim: int("dim"))
        case "LeakyReLU": return LeakyReLU(negativeSlope: double("slope")!)
        case "ELU": return ELU(alpha: double("alpha")!)
        default: fatalError("no layer named \(layer)")
        }
    }

    static func forward(_ module: Module, _ inputs: [Tensor]) -> Tensor {
        if let bilinear = module as? Bilinear { return bilinear(inputs[0], inputs[1]) }
        guard let layer = module as? any Layer else { fatalError("\(module) is not a Layer") }
        return layer(inputs[0])
    }
}

/// Every layer against PyTorch: forward, input and parameter gradients, running statistics,
/// evaluation mode; gradcheck in float64 with respect to inputs and parameters.
@Suite struct LayerTests {
    static let cases = LayerFixture.load("nn_layers_float64") + LayerFixture.load("nn_layers_float32")

    @Test(arguments: cases)
    func matchesPyTorch(_ fixture: LayerFixture) throws {
        let module = fixture.makeModule()
        // Loading by name checks that Ember names the tensors as PyTorch does.
        try module.loadStateDict(StateDict(fixture.state.map { ($0.key, $0.value.tensor) }))
        module.train()
        withNoGrad { for step in fixture.trainSteps { _ = LayerFixture.forward(module, [step.tensor]) } }
        let inputs = fixture.inputs.map { fixture -> Tensor in
            let tensor = fixture.tensor
            return tensor.dtype.isFloatingPoint ? tensor.requiresGrad_() : tensor
        }
        let output = LayerFixture.forward(module, inputs)
        expectClose(output, fixture.output.tensor, "\(fixture.name) output")
        (output * fixture.gradOutput.tensor).sum().backward()
        for (input, expected) in zip(inputs, fixture.inputGrads) {
            guard let expected else { continue }
            guard let grad = input.grad else { Issue.record("\(fixture.name): no input gradient"); continue }
            expectClose(grad, expected.tensor, "\(fixture.name) input grad")
        }
        let parameters = Dictionary(uniqueKeysWithValues: module.namedParameters().map { ($0.name, $0.tensor) })
        #expect(Set(parameters.keys) == Set(fixture.paramGrads.keys), "\(fixture.name): parameter names")
        for (name, expected) in fixture.paramGrads {
            guard let grad = parameters[name]?.grad else { Issue.record("\(fixture.name): no gradient for \(name)"); continue }
            expectClose(grad, expected.tensor, "\(fixture.name) grad of \(name)")
        }
        let state = module.stateDict()
        #expect(Set(state.keys) == Set(fixture.finalState.keys), "\(fixture.name): state names")
        for (name, expected) in fixture.finalState {
            guard let actual = state[name] else { continue }
            expectClose(actual, expected.tensor, "\(fixture.name) state \(name) after training")
        }
        if let evalInput = fixture.evalInput, let evalOutput = fixture.evalOutput {
            module.eval()
            expectClose(withNoGrad { LayerFixture.forward(module, [evalInput.tensor]) }, evalOutput.tensor, "\(fixture.name) eval output")
        }
    }

    /// The padding row of an embedding deliberately gets no gradient, so the finite
    /// differences (which see it) disagree by design: that case is left out here and its
    /// zero gradient is checked against PyTorch above.
    @Test(arguments: cases.filter { $0.dtype == "float64" && !$0.name.hasPrefix("embedding-padding") })
    func gradcheckInputsAndParameters(_ fixture: LayerFixture) throws {
        let module = fixture.makeModule()
        try module.loadStateDict(StateDict(fixture.state.map { ($0.key, $0.value.tensor) }))
        let inputs = fixture.inputs.map { fixture -> Tensor in
            let tensor = fixture.tensor
            return tensor.dtype.isFloatingPoint ? tensor.requiresGrad_() : tensor
        }
        // gradcheck perturbs the tensors it is given in place: the module reads the same ones.
        for mode in module is BatchNorm ? [true, false] : [true] {
            module.train(mode)
            let result = gradcheck({ _ in LayerFixture.forward(module, inputs) }, inputs: inputs + module.parameters())
            #expect(result.passed, "\(fixture.name) (training \(mode)): \(result.report)")
        }
    }
}

/// Behaviour that has no single PyTorch reference: dropout, initial values, errors.
@Suite struct LayerBehaviourTests {
    @Test func dropoutTrainingAndEvaluation() {
        let dropout = Dropout(p: 0.25, generator: RandomGenerator(seed: 7))
        let x = Tensor.ones([4000], dtype: .float64)
        let y = dropout(x).scalars(as: Double.self)
        let zeros = y.filter { $0 == 0 }.count
        #expect(abs(Double(zeros) / 4000 - 0.25) < 0.03)
        #expect(y.allSatisfy { $0 == 0 || abs($0 - 1 / 0.75) < 1e-12 })
        dropout.eval()
        #expect(dropout(x) === x)
        // The same seed gives the same mask.
        let a = Dropout(p: 0.5, generator: RandomGenerator(seed: 3))(x).scalars(as: Double.self)
        let b = Dropout(p: 0.5, generator: RandomGenerator(seed: 3))(x).scalars(as: Double.self)
        #expect(a == b)
        #expect(Functional.dropout(x, p: 1).scalars(as: Double.self).allSatisfy { $0 == 0 })
    }

    @Test func dropoutGradientUsesTheMask() {
        let x = Tensor.ones([50], dtype: .float64).requiresGrad_()
        let y = Functional.dropout(x, p: 0.5, generator: RandomGenerator(seed: 1))
        y.sum().backward()
        #expect(x.grad!.scalars(as: Double.self) == y.scalars(as: Double.self))
    }

    @Test func defaultInitialisation() {
        let linear = Linear(16, 4)
        let bound = 1 / 4.0
        #expect(linear.weight.shape == [4, 16] && linear.bias!.shape == [4])
        #expect(linear.weight.scalars(as: Double.self).allSatisfy { abs($0) <= bound })
        #expect(linear.bias!.scalars(as: Double.self).allSatisfy { abs($0) <= bound })
        let embedding = Embedding(numEmbeddings: 6, embeddingDim: 3, paddingIndex: -1)
        #expect(embedding.paddingIndex == 5)
        #expect(embedding.weight[5].scalars(as: Float.self) == [0, 0, 0])
        let norm = BatchNorm2d(3)
        #expect(norm.stateDict().keys == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"])
        #expect(norm.numBatchesTracked!.dtype == .int64)
        #expect(BatchNorm1d(2, affine: false, trackRunningStats: false).stateDict().isEmpty)
        #expect(LayerNorm(normalizedShape: [3], elementwiseAffine: false).parameters().isEmpty)
    }

    @Test func batchNormWithoutRunningStatsUsesBatchStatistics() {
        let norm = BatchNorm1d(2, trackRunningStats: false, dtype: .float64).eval()
        let x = Tensor([[1, 2], [3, 6]] as [[Double]])
        expectClose(norm(x), Tensor([[-1, -1], [1, 1]] as [[Double]]), relative: 1e-5, absolute: 1e-5)
    }

    @Test func toDTypeKeepsIntegerBuffers() {
        let norm = BatchNorm1d(3).to(dtype: .float64)
        #expect(norm.runningMean!.dtype == .float64 && norm.weight!.dtype == .float64)
        #expect(norm.numBatchesTracked!.dtype == .int64)
        _ = norm(Tensor.randn([4, 3], dtype: .float64))
        #expect(norm.numBatchesTracked!.item(as: Int.self) == 1)
    }
}

/// Initialisers: bounds, moments, orthogonality, gains.
@Suite struct InitializerTests {
    @Test func gains() {
        #expect(Initializers.calculateGain(.relu) == 2.0.squareRoot())
        #expect(Initializers.calculateGain(.tanh) == 5.0 / 3)
        #expect(abs(Initializers.calculateGain(.leakyRelu, parameter: 5.0.squareRoot()) - (1.0 / 3).squareRoot()) < 1e-15)
        #expect(Initializers.fans(Tensor.empty([16, 3, 5, 5])) == (75, 400))
    }

    @Test func distributions() {
        let generator = RandomGenerator(seed: 11)
        let w = Tensor.empty([200, 100], dtype: .float64)
        func moments() -> (mean: Double, std: Double, maxAbs: Double) {
            let v = w.scalars(as: Double.self)
            let mean = v.reduce(0, +) / Double(v.count)
            let std = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count)).squareRoot()
            return (mean, std, v.map(abs).max()!)
        }
        Initializers.kaimingUniform_(w, mode: .fanIn, nonlinearity: .relu, generator: generator)
        var m = moments()
        let kaimingBound = 2.0.squareRoot() * (3.0 / 100).squareRoot()
        #expect(m.maxAbs <= kaimingBound && abs(m.std - kaimingBound / 3.0.squareRoot()) < 0.01)
        Initializers.kaimingNormal_(w, mode: .fanOut, nonlinearity: .relu, generator: generator)
        m = moments()
        #expect(abs(m.std - (2.0 / 200).squareRoot()) < 0.005 && abs(m.mean) < 0.005)
        Initializers.xavierUniform_(w, generator: generator)
        m = moments()
        #expect(m.maxAbs <= (6.0 / 300).squareRoot())
        Initializers.xavierNormal_(w, gain: 2, generator: generator)
        m = moments()
        #expect(abs(m.std - 2 * (2.0 / 300).squareRoot()) < 0.005)
        Initializers.normal_(w, mean: 3, std: 0.5, generator: generator)
        m = moments()
        #expect(abs(m.mean - 3) < 0.01 && abs(m.std - 0.5) < 0.01)
        Initializers.uniform_(w, low: 2, high: 3, generator: generator)
        #expect(w.scalars(as: Double.self).allSatisfy { $0 >= 2 && $0 < 3 })
        Initializers.constant_(w, 0.5)
        #expect(w.scalars(as: Double.self).allSatisfy { $0 == 0.5 })
    }

    @Test(arguments: [[5, 3], [3, 5], [4, 2, 3]])
    func orthogonal(_ shape: [Int]) {
        let w = Tensor.empty(shape, dtype: .float64)
        Initializers.orthogonal_(w, gain: 2, generator: RandomGenerator(seed: 5))
        let matrix = w.reshaped([shape[0], -1])
        let rows = shape[0], columns = matrix.shape[1]
        // The smaller Gram matrix is gain² · I.
        let gram = rows >= columns ? matrix.t.matmul(matrix) : matrix.matmul(matrix.t)
        expectClose(gram, Tensor.eye(Swift.min(rows, columns), dtype: .float64) * 4.0, relative: 1e-10, absolute: 1e-10)
    }

    @Test func initialisersWorkOnParametersThatRequireGrad() {
        let linear = Linear(3, 3)
        Initializers.ones_(linear.weight)
        Initializers.zeros_(linear.bias!)
        #expect(linear.weight.isLeaf && linear.weight.requiresGrad)
        #expect(linear.weight.scalars(as: Float.self).allSatisfy { $0 == 1 })
    }
}
