import Testing
import Ember

// The code of Ember.docc/Modules.md, compiled and checked here so the article stays true.

private final class Classifier: Module, Layer {
    let features = Sequential {
        Linear(64, 128)
        ReLU()
        Dropout(p: 0.1)
    }
    let head = Linear(128, 10)

    func callAsFunction(_ input: Tensor) -> Tensor {
        head(features(input))
    }
}

private final class Scale: Module, Layer {
    @Parameter var weight: Tensor
    @Parameter var bias: Tensor?

    init(features: Int, bias: Bool = true) {
        weight = Tensor.ones([features])
        self.bias = bias ? Tensor.zeros([features]) : nil
        super.init()
    }

    func callAsFunction(_ input: Tensor) -> Tensor {
        let scaled = input * weight
        return bias.map { scaled + $0 } ?? scaled
    }
}

@Suite struct ModulesArticleTests {
    @Test func classifierNamesItsParametersLikePyTorch() throws {
        let model = Classifier()
        #expect(model.namedParameters().map(\.name) == ["features.0.weight", "features.0.bias", "head.weight", "head.bias"])
        let copy = Classifier()
        try copy.loadStateDict(model.stateDict())
        expectClose(copy.head.weight, model.head.weight)
        model.eval()
        #expect(!model.features.isTraining)
    }

    @Test func customLayerParametersRequireGrad() {
        let layer = Scale(features: 3)
        #expect(layer.weight.requiresGrad && layer.bias!.requiresGrad)
        #expect(layer.namedParameters().map(\.name) == ["weight", "bias"])
        #expect(Scale(features: 3, bias: false).parameters().count == 1)
        let optimizer = SGD(layer.parameters(), lr: 0.1, momentum: 0.9)
        let x = Tensor([[1, 2, 3]] as [[Float]]), targets = Tensor([2] as [Int])
        optimizer.zeroGrad()
        let loss = crossEntropy(layer(x), targets)
        loss.backward()
        optimizer.step()
        #expect(layer.weight.scalars(as: Float.self) != [1, 1, 1])
    }
}
