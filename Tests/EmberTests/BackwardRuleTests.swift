import Testing
@testable import Ember

/// Runs `primitive` through the dispatch as a bare op value: the CPU backend's kernel, and
/// the autograd node the dispatch records for it (`BackwardRule.primitive`), so the rule
/// under test is the primitive's own vector-Jacobian product.
private func bare(_ primitive: Primitive, _ inputs: [Tensor]) -> Tensor {
    try! primitive.apply(to: inputs)
}

private func random(_ shape: [Int], seed: UInt64, offset: Double = 0) -> Tensor {
    (Tensor.randn(shape, dtype: .float64, generator: RandomGenerator(seed: seed)) + offset).requiresGrad_()
}

/// The primitive that `body` records first in a trace (its geometry, as the eager op computed it).
private func tracedPrimitive(_ input: Tensor, matching name: String, _ body: @escaping (Tensor) -> Tensor) -> Primitive {
    let f = compile { (x: Tensor) in body(x) }
    _ = withNoGrad { f(input) }
    guard let node = f.tracedGraph?.nodes.first(where: { $0.primitive.name == name }) else {
        fatalError("no \(name) node in the trace")
    }
    return node.primitive
}

@Suite("autograd nodes hold op values")
struct BackwardRuleTests {
    @Test func nodesHoldThePrimitiveTheyDifferentiate() {
        let x = random([3, 4], seed: 1)
        #expect((x * 2).gradFunction?.primitive == .binary("mul"))
        #expect(x.tanh().gradFunction?.primitive == .unary("tanh"))
        #expect(x.clamp(min: -1, max: 1).gradFunction?.primitive == .unary("clamp", p0: -1, p1: 1))
        #expect(x.sum(dims: [-1]).gradFunction?.primitive == .reduce("sum", axes: [1], keepDim: false))
        #expect(x.softmax(dim: 0).gradFunction?.primitive == .softmax(dim: 0, log: false))
        #expect(x.t.gradFunction?.primitive == .permute([1, 0]))
        let view = x.view([12])
        #expect(view.gradFunction?.primitive == .reshape([12]))
        #expect("\(view.gradFunction!)" == "<viewBackward>")
        #expect(x.matmul(x.t).gradFunction?.primitive == .matmul)
        #expect(x.to(.float32).gradFunction?.primitive == .cast(.float32))
        #expect(Tensor.cat([x, x], dim: 1).gradFunction?.primitive == .concatenate(dim: 1))
    }

    @Test func nodesKeepOnlyWhatTheirRuleReads() {
        let a = random([2, 3], seed: 2), b = random([2, 3], seed: 3)
        #expect((a + b).gradFunction!.savedInputs.isEmpty)
        let product = (a * b).gradFunction!
        #expect(product.savedInputs.count == 2 && product.savedInputs.allSatisfy { $0 != nil })
        let exp = a.exp().gradFunction!
        #expect(exp.savedInputs.isEmpty && exp.savedOutputs.count == 1)
        let sum = a.sum().gradFunction!
        #expect(sum.savedInputs.isEmpty && sum.savedOutputs.isEmpty)
        let condition = a .> 0
        let select = Tensor.where(condition, a, b).gradFunction!
        #expect(select.savedInputs.count == 3 && select.savedInputs[0] === condition && select.savedInputs[1] == nil)
    }

    @Test func savedInputsAreReleasedAfterBackward() {
        let a = random([4], seed: 4)
        weak var intermediate: Tensor?
        let loss: Tensor = {
            let t = a.exp()
            intermediate = t
            return (t * 2).sum()   // mul keeps t
        }()
        #expect(intermediate != nil)
        loss.backward()
        #expect(intermediate == nil, "the mul node still holds its saved input after backward")
    }

    @Test func savedInputsAreCheckedForInPlaceWrites() async {
        await #expect(processExitsWith: .failure) {
            let a = Tensor.ones([3], dtype: .float64).requiresGrad_()
            let t = a * 2
            let y = (t * t).sum()
            t += 1
            y.backward()
        }
    }

    /// A cast's rule converts the gradient back (finite differences in float32 would be too coarse).
    @Test func castRuleConvertsTheGradientBack() {
        let x = random([3], seed: 18)
        let y = bare(.cast(.float32), [x])
        #expect(y.dtype == .float32 && y.gradFunction?.primitive == .cast(.float32))
        (y * Tensor([1, 2, 3] as [Float])).sum().backward()
        #expect(x.grad?.dtype == .float64 && x.grad?.scalars(as: Double.self) == [1, 2, 3])
    }

    /// Every primitive's own rule (recorded as a bare ``Primitive``, not through a table
    /// entry or a composition) against finite differences, first and second order.
    @Test func everyPrimitiveRulePassesGradcheck() {
        let x = random([3, 4], seed: 5), y = random([3, 4], seed: 6), v = random([4], seed: 7)
        let positive = (Tensor.rand([3, 4], dtype: .float64, generator: RandomGenerator(seed: 8)) + 0.5).requiresGrad_()
        let image = random([1, 2, 4, 5], seed: 9)
        let weight = random([3, 2, 2, 2], seed: 10)
        let index = Tensor([[0, 3], [1, 1], [2, 0]] as [[Int]])
        // Scatter's gradient is defined where no index repeats (the last write wins otherwise).
        let distinct = Tensor([[0, 3], [1, 2], [2, 0]] as [[Int]])
        let conv = tracedPrimitive(image.detach(), matching: "conv2d") { Functional.conv2d($0, weight: weight.detach(), padding: 1) }
        guard case .conv2d(let geometry) = conv else { Issue.record("no conv geometry"); return }
        let convOutput = random([1, 3, geometry.outHeight, geometry.outWidth], seed: 11)
        let pool = tracedPrimitive(image.detach(), matching: "maxPool2d") { Functional.maxPool2d($0, kernelSize: 2, stride: 1) }
        guard case .maxPool2d(let poolGeometry) = pool else { Issue.record("no pool geometry"); return }
        let pooled = random([1, 2, poolGeometry.outHeight, poolGeometry.outWidth], seed: 12)
        let average = tracedPrimitive(image.detach(), matching: "averagePool2d") { Functional.avgPool2d($0, kernelSize: 2, stride: 1) }
        guard case .averagePool2d(let averageGeometry, _) = average else { Issue.record("no average geometry"); return }
        let planes = image.detach().reshaped([2, 4, 5]).requiresGrad_()
        let averaged = random([2, averageGeometry.windows.outHeight, averageGeometry.windows.outWidth], seed: 13)

        // Input gates [T = 3, B = 2, 4H = 8], W_hh [8, 2], h0 and c0 [2, 2].
        let lstmInputs = [random([3, 2, 8], seed: 18), random([8, 2], seed: 19), random([2, 2], seed: 20), random([2, 2], seed: 21)]
        let cases: [(Primitive, [Tensor])] = [
            (.unary("tanh"), [x]), (.unary("log"), [positive]), (.unary("clamp", p0: -0.5, p1: 0.5), [x]),
            (.binary("mul"), [x, v]), (.binary("div"), [x, positive]), (.binary("pow"), [positive, y]),
            (.reduce("sum", axes: [1], keepDim: false), [x]), (.reduce("amax", axes: [0], keepDim: true), [x]),
            (.reduce("logsumexp", axes: [0, 1], keepDim: false), [x]),
            (.select, [x.detach() .> 0, x, v]), (.copy, [x.t]),
            (.reshape([2, 6]), [x]), (.permute([1, 0]), [x]), (.expand([2, 3, 4]), [x]),
            (.slice([.range(start: 1, end: 3, step: 1), .range(start: 0, end: 4, step: 2)]), [x]),
            (.sliceScatter(shape: [5, 4], [.range(start: 1, end: 4, step: 1), .range(start: 0, end: Int.max, step: 1)]), [x]),
            (.sliceAssign([.range(start: 0, end: 2, step: 1), .range(start: 0, end: Int.max, step: 1)]), [x, random([2, 4], seed: 14)]),
            (.concatenate(dim: 0), [x, y]), (.matmul, [x, y.t]), (.softmax(dim: 1, log: false), [x]),
            (.softmax(dim: 0, log: true), [x]),
            (.layerNorm(normalizedRank: 1, eps: 1e-5, hasWeight: true, hasBias: true), [x, v, random([4], seed: 15)]),
            (.gather(dim: 1), [x, index]), (.scatter(dim: 1, accumulate: false), [x, distinct, random([3, 2], seed: 16)]),
            (.scatter(dim: 1, accumulate: true), [x, index, random([3, 2], seed: 17)]),
            (conv, [image, weight]), (.conv2dInputGradient(geometry), [convOutput, weight]),
            (.conv2dWeightGradient(geometry), [image, convOutput]),
            (pool, [image]), (.maxPool2dBackward(poolGeometry), [pooled, image.detach()]),
            (average, [planes]), (.averagePool2d(averageGeometry, transpose: true), [averaged]),
            (.flip([0, 1]), [x]), (.constantPad([1, 0, 2, -1], value: 3), [x]),
            (.cumulativeSum(dim: 1, reverse: false), [x]), (.cumulativeSum(dim: 0, reverse: true), [x]),
            (.cumulativeProduct(dim: 1), [x]), (.roll(shift: 2, dim: 1), [x]), (.repeat([2, 1, 2]), [x]),
            (.lstm(reverse: false), lstmInputs), (.lstm(reverse: true), lstmInputs),
        ]
        for (primitive, inputs) in cases {
            let output = withGrad { bare(primitive, inputs) }
            #expect(output.gradFunction?.primitive == primitive, "\(primitive): recorded \(String(describing: output.gradFunction?.primitive))")
            let first = gradcheck({ bare(primitive, $0) }, inputs: inputs)
            #expect(first.passed, "\(primitive): \(first)")
            let second = gradgradcheck({ bare(primitive, $0) }, inputs: inputs)
            #expect(second.passed, "\(primitive) second order: \(second)")
        }
    }
}
