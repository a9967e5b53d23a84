import Testing
@testable import Ember

/// Gradients of composite expressions built from primitive ops, against PyTorch
/// (scripts/fixtures/generate_autograd_parity.py), in float64 to 1e-10.
@Suite struct AutogradParityTests {
    static let cases = Fixtures.load("autograd_parity")

    static func fixture(_ name: String) -> (inputs: [Tensor], loss: Tensor, gradients: [Tensor]) {
        let fixture = cases.first { $0.name == name }!
        return (fixture.inputs.map(\.tensor), fixture.expected!.tensor, fixture.expectedList!.map(\.tensor))
    }

    static func check(_ name: String, leaves: Int, loss build: ([Tensor]) -> Tensor) {
        let (inputs, expectedLoss, expectedGradients) = fixture(name)
        for input in inputs.prefix(leaves) { input.requiresGrad = true }
        let loss = build(inputs)
        expectClose(loss, expectedLoss, relative: 1e-10, absolute: 1e-12, "\(name) loss")
        loss.backward()
        for (index, expected) in expectedGradients.enumerated() {
            expectClose(inputs[index].grad ?? Tensor.zeros([0]), expected, relative: 1e-10, absolute: 1e-12, "\(name) gradient \(index)")
        }
    }

    @Test func mlpWithCrossEntropy() {
        Self.check("mlp", leaves: 5) { t in
            let (x, w1, b1, w2, b2, target) = (t[0], t[1], t[2], t[3], t[4], t[5])
            let logits = (x.matmul(w1) + b1).relu().matmul(w2) + b2
            return -logits.logSoftmax(dim: 1).gather(dim: 1, index: target.unsqueezed(1)).mean()
        }
    }

    @Test func softmaxCrossEntropyWithProbabilities() {
        Self.check("softmaxCrossEntropy", leaves: 1) { t in
            -(t[1] * t[0].logSoftmax(dim: 1)).sum(dim: 1).mean()
        }
    }

    @Test func causalSelfAttentionFromPrimitives() {
        Self.check("attention", leaves: 5) { t in
            let (x, wq, wk, wv, wo, weights) = (t[0], t[1], t[2], t[3], t[4], t[5])
            let q = x.matmul(wq), k = x.matmul(wk), v = x.matmul(wv)
            var scores = q.matmul(k.transposed(-2, -1)) / 8.0.squareRoot()
            let causal = Tensor.ones([5, 5], dtype: .bool).tril()
            scores = Tensor.where(causal, scores, Tensor(-Double.infinity))
            let out = scores.softmax(dim: -1).matmul(v).matmul(wo) + x
            return (out.tanh() * weights).sum()
        }
    }

    @Test func secondOrderGradientPenalty() {
        Self.check("gradientPenalty", leaves: 2) { t in
            let (x, w) = (t[0], t[1])
            let y = x.matmul(w).sigmoid().sum()
            let gx = grad(of: [y], withRespectTo: [x], createGraph: true)[0]!
            return (gx * gx).sum()
        }
    }
}
