import Testing
@testable import Ember

@Suite struct PrimitiveApplicationTests {
    @Test func appliesLikeTheEagerOpWithItsGradient() throws {
        let a = Tensor.randn([2, 3], dtype: .float64, requiresGrad: true), b = Tensor.randn([3, 4], dtype: .float64)
        let y = try Primitive.matmul.apply(to: [a, b])
        #expect(y.scalars(as: Double.self) == a.matmul(b).scalars(as: Double.self))
        #expect(y.gradFunction?.primitive == .matmul)
        try Primitive.reduce("sum", axes: [0, 1], keepDim: false).apply(to: [y]).backward()
        let expected = Tensor.ones([2, 4], dtype: .float64).matmul(b.t)
        #expect(a.grad?.scalars(as: Double.self) == expected.scalars(as: Double.self))
    }

    @Test func operandsThatBreakTheTypeRuleThrow() throws {
        let a = Tensor.randn([2, 3]), b = Tensor.randn([4, 5])
        #expect(throws: PrimitiveApplicationError(primitive: .matmul, inputs: [a.valueType, b.valueType])) {
            try Primitive.matmul.apply(to: [a, b])
        }
        #expect(throws: PrimitiveApplicationError.self) { try Primitive.reshape([7]).apply(to: [a]) }
        #expect(throws: PrimitiveApplicationError.self) { try Primitive.permute([0, 0]).apply(to: [a]) }
        #expect(throws: PrimitiveApplicationError.self) { try Primitive.binary("add").apply(to: [a]) }
        // max and min have no identity: an empty reduced dimension is refused (sum's is 0).
        // A 0-d tensor has no axis 0 to reduce (traces record its reductions with no axes).
        #expect(throws: PrimitiveApplicationError.self) { try Primitive.reduce("sum", axes: [0], keepDim: false).apply(to: [Tensor(2.0)]) }
        let empty = Tensor.zeros([2, 0, 4])
        #expect(throws: PrimitiveApplicationError.self) { try Primitive.reduce("amax", axes: [1], keepDim: false).apply(to: [empty]) }
        #expect(try Primitive.reduce("sum", axes: [1], keepDim: false).apply(to: [empty]).scalars(as: Float.self) == Array(repeating: 0, count: 8))
        let bad = ConvolutionGeometry(inHeight: 5, inWidth: 5, outHeight: 9, outWidth: 9, kernelHeight: 3, kernelWidth: 3,
                                      strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1, dilationW: 1, groups: 1)
        #expect(throws: PrimitiveApplicationError.self) {
            try Primitive.conv2d(bad).apply(to: [Tensor.randn([1, 1, 5, 5]), Tensor.randn([1, 1, 3, 3])])
        }
    }

    /// The `lstm` primitive is the fused layer's recurrence packed as [T + 2, B, H]; strided
    /// operands give the same bits as contiguous ones, and wrong shapes throw.
    @Test func lstmPrimitiveOnStridedOperands() throws {
        let generator = RandomGenerator(seed: 14)
        let gates = Tensor.randn([3, 2, 8], generator: generator), weight = Tensor.randn([8, 2], generator: generator)
        let h0 = Tensor.randn([2, 2], generator: generator), c0 = Tensor.randn([2, 2], generator: generator)
        for reverse in [false, true] {
            let packed = try Primitive.lstm(reverse: reverse).apply(to: [gates, weight, h0, c0])
            let eager = FusedLSTMLayer.apply(inputGates: gates, hiddenWeight: weight, h0: h0, c0: c0, reverse: reverse)
            let expected = Tensor.cat([eager.output, eager.h.unsqueezed(0), eager.c.unsqueezed(0)], dim: 0)
            #expect(packed.shape == [5, 2, 2] && packed.scalars(as: Float.self) == expected.scalars(as: Float.self))
            // The same values, read through transposed storage.
            let strided = [gates.permuted([2, 1, 0]).contiguous().permuted([2, 1, 0]), weight.t.contiguous().t,
                           h0.t.contiguous().t, c0.t.contiguous().t]
            #expect(!strided[0].isContiguous && !strided[1].isContiguous)
            #expect(try Primitive.lstm(reverse: reverse).apply(to: strided).scalars(as: Float.self) == expected.scalars(as: Float.self))
        }
        #expect(throws: PrimitiveApplicationError.self) { try Primitive.lstm(reverse: false).apply(to: [gates, weight.t, h0, c0]) }
        #expect(throws: PrimitiveApplicationError.self) {
            try Primitive.lstm(reverse: false).apply(to: [gates, weight, h0, Tensor.randn([3, 2])])
        }
    }

    @Test func parameterDictHoldsNamedParameters() {
        let weights = ParameterDict()
        weights["fc.weight"] = Tensor.randn([3, 2])
        weights["fc.bias"] = Tensor.zeros([3])
        weights["steps"] = Tensor([4] as [Int64])
        #expect(weights.keys == ["fc.weight", "fc.bias", "steps"] && weights.count == 3)
        #expect(weights.namedParameters().map(\.name) == ["fc.weight", "fc.bias", "steps"])
        #expect(weights["fc.weight"]!.requiresGrad && !weights["steps"]!.requiresGrad)
        let replacement = Tensor.ones([3])
        weights["fc.bias"] = replacement
        #expect(weights["fc.bias"] === replacement && weights.count == 3)
        weights["steps"] = nil
        #expect(weights.keys == ["fc.weight", "fc.bias"] && weights.stateDict().count == 2)
    }
}
