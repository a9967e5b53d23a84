/// Every primitive's vector-Jacobian product, written in Tensor operations (so a backward
/// pass records with `createGraph` and traces inside `compile`), and what it reads.
///
/// The unary, binary and reduction primitives differentiate through their table entries
/// (`BackwardRule.unary`, `.binary`, `.reduction`); the cases here look the entry up by name
/// for a node recorded with the bare primitive.
extension Primitive {
    /// The forward values this primitive's rule reads; the node keeps only those.
    var backwardReads: SavedValues {
        switch self {
        case .unary(let name, let p0, let p1): return BackwardRule.unary(CPUBackend.unary(name), p0: p0, p1: p1).reads
        case .binary(let name): return BackwardRule.binary(CPUBackend.binary(name)).reads
        case .reduce(let name, let axes, let keepDim):
            return BackwardRule.reduction(CPUBackend.reduction(name), axes: axes, keepDim: keepDim).reads
        case .select: return SavedValues(inputs: .only(0))
        case .gather, .scatter: return SavedValues(inputs: .only(1))
        case .concatenate: return SavedValues(inputShapes: true)
        case .matmul, .conv2d, .conv2dInputGradient, .conv2dWeightGradient, .layerNorm, .maxPool2d, .maxPool2dBackward:
            return SavedValues(inputs: .all)
        case .softmax: return SavedValues(output: true)
        case .cumulativeProduct: return SavedValues(inputs: .all, output: true)
        case .lstm: return SavedValues(inputs: .all)
        case .compare, .logical, .cast, .copy, .reshape, .permute, .expand, .slice, .sliceScatter, .averagePool2d, .flip,
             .constantPad, .cumulativeSum, .argReduce, .argsort, .sliceAssign, .roll, .repeat, .opaque:
            return .none
        }
    }

    /// The gradients of the inputs given the gradient of the output (one entry per input, nil
    /// where none flows).
    func vectorJacobianProduct(_ context: BackwardContext) -> [Tensor?] {
        let g = context.gradOutput
        switch self {
        case .unary(let name, let p0, let p1): return BackwardRule.unary(CPUBackend.unary(name), p0: p0, p1: p1).gradients(context)
        case .binary(let name): return BackwardRule.binary(CPUBackend.binary(name)).gradients(context)
        case .reduce(let name, let axes, let keepDim):
            return BackwardRule.reduction(CPUBackend.reduction(name), axes: axes, keepDim: keepDim).gradients(context)
        case .compare, .logical: return [nil, nil]
        case .argReduce, .argsort: return [nil]
        case .opaque: emberFailure("backward: \(name) is an extern call of a compiled graph and has no gradient")

        case .select:
            let condition = context.savedInput(0)!, zero = Tensor.zerosLike(g)
            return [nil,
                    context.needsGradient(1) ? Tensor.where(condition, g, zero).sumToShape(context.inputShape(1)) : nil,
                    context.needsGradient(2) ? Tensor.where(condition, zero, g).sumToShape(context.inputShape(2)) : nil]
        case .cast: return [g.to(context.inputType(0))]
        case .copy: return [g]
        case .reshape: return [g.reshaped(context.inputShape(0))]
        case .permute(let dims):
            var inverse = [Int](repeating: 0, count: dims.count)
            for (position, dim) in dims.enumerated() { inverse[dim] = position }
            return [g.permuted(inverse)]
        case .expand: return [g.sumToShape(context.inputShape(0))]
        case .slice(let components):
            return [Tensor.embedding(g, intoZerosOf: context.inputShape(0), dtype: g.dtype, at: components)]
        case .sliceScatter(_, let components): return [g.sliced(components)]
        case .sliceAssign(let components):
            // The base keeps the gradient outside the slice; the values get the slice's.
            var kept: Tensor?
            if context.needsGradient(0) {
                let written = Tensor.embedding(Tensor.ones(g.sliced(components).shape, dtype: .float32), intoZerosOf: g.shape,
                                               dtype: .float32, at: components) .!= 0
                kept = Tensor.where(written, Tensor.zerosLike(g), g)
            }
            return [kept, context.needsGradient(1) ? g.sliced(components).sumToShape(context.inputShape(1)) : nil]
        case .concatenate(let dim):
            var start = 0
            return context.node!.savedInputShapes.enumerated().map { index, shape in
                // 1-D empty inputs were skipped, as in PyTorch.
                if shape == [0] && g.rank != 1 { return context.needsGradient(index) ? Tensor.zeros([0], dtype: g.dtype) : nil }
                defer { start += shape[dim] }
                return context.needsGradient(index) ? g.narrow(dim: dim, start: start, length: shape[dim]) : nil
            }

        case .matmul:
            let a = context.savedInput(0)!, b = context.savedInput(1)!
            return [context.needsGradient(0) ? Tensor.matrixProductGradientLeft(g, a, b) : nil,
                    context.needsGradient(1) ? Tensor.matrixProductGradientRight(g, a, b) : nil]
        case .softmax(let dim, let log):
            let y = context.output
            return [log ? g - y.exp() * g.sum(dims: [dim], keepDim: true) : y * (g - (g * y).sum(dims: [dim], keepDim: true))]
        case .layerNorm(let rank, let eps, let hasWeight, let hasBias):
            return Primitive.layerNormGradients(context, rank: rank, eps: eps, hasWeight: hasWeight, hasBias: hasBias)
        case .gather(let dim):
            let index = context.savedInput(1)!
            return [Tensor.zeros(context.inputShape(0), dtype: g.dtype).scatterAdd(dim: dim, index: index, source: g), nil]
        case .scatter(let dim, let accumulate):
            let index = context.savedInput(1)!
            let gradSelf = context.needsGradient(0) ? (accumulate ? g : g.scatter(dim: dim, index: index, value: 0)) : nil
            var gradSource: Tensor?
            if context.needsGradient(2) {
                // The source may be larger than the index; its unread elements get zeros.
                gradSource = g.gather(dim: dim, index: index)
                let sourceShape = context.inputShape(2)
                if sourceShape != index.shape {
                    let block = index.shape.map { SliceComponent.range(start: 0, end: $0, step: 1) }
                    gradSource = Tensor.embedding(gradSource!, intoZerosOf: sourceShape, dtype: g.dtype, at: block)
                }
            }
            return [gradSelf, nil, gradSource]

        case .conv2d(let geometry):
            let input = context.savedInput(0)!, weight = context.savedInput(1)!
            var gradients: [Tensor?] = [
                context.needsGradient(0) ? Tensor.convolution2dInputGradient(g, weight, geometry: geometry) : nil,
                context.needsGradient(1) ? Tensor.convolution2dWeightGradient(input, g, geometry: geometry) : nil,
            ]
            if context.inputs.count > 2 { gradients.append(context.needsGradient(2) ? g.sum(dims: [0, 2, 3]) : nil) }
            return gradients
        case .conv2dInputGradient(let geometry):
            // (gradOutput, weight) -> input-shaped: its adjoints are the convolution and the weight gradient.
            let gradOutput = context.savedInput(0)!, weight = context.savedInput(1)!
            return [context.needsGradient(0) ? Tensor.convolution2d(g, weight, nil, geometry: geometry) : nil,
                    context.needsGradient(1) ? Tensor.convolution2dWeightGradient(g, gradOutput, geometry: geometry) : nil]
        case .conv2dWeightGradient(let geometry):
            let input = context.savedInput(0)!, gradOutput = context.savedInput(1)!
            return [context.needsGradient(0) ? Tensor.convolution2dInputGradient(gradOutput, g, geometry: geometry) : nil,
                    context.needsGradient(1) ? Tensor.convolution2d(input, g, nil, geometry: geometry) : nil]
        case .maxPool2d(let geometry):
            return [Tensor.maxPool2dBackward(g, input: context.savedInput(0)!, geometry: geometry)]
        case .maxPool2dBackward(let geometry):
            // Linear in the gradient (each value lands on its window's maximum): the adjoint
            // reads the incoming gradient at those maxima. Piecewise constant in the input.
            let input = context.savedInput(1)!
            return [Tensor.maxPoolGatherAtMaxima(g, input: input, geometry: geometry), nil]
        case .averagePool2d(let geometry, let transpose):
            return [Tensor.windowAverage(g, geometry, transpose: !transpose)]

        case .flip(let dims): return [g.flip(dims: dims)]
        case .constantPad(let padding, _): return [g.constantPadded(everyDimension: padding.map { -$0 }, value: 0)]
        case .cumulativeSum(let dim, let reverse):
            // d/dx_i sum_k>=i g_k: a running sum of the gradient in the other direction.
            guard !context.inputShape(0).isEmpty else { return [g] }
            return [reverse ? g.cumsum(dim: dim) : g.reverseCumsum(axis: dim)]
        case .lstm(let reverse):
            return FusedLSTMLayer.packedGradients(context, reverse: reverse)
        case .cumulativeProduct(let dim):
            let x = context.savedInput(0)!, y = context.output
            guard x.rank > 0 else { return [g] }
            let hasZeros = withoutGrad { (x .== 0).any().item(as: Bool.self) }
            if !hasZeros {
                // d/dx_i = sum_{k>=i} g_k y_k / x_i.
                return [(g * y).reverseCumsum(axis: dim) / x]
            }
            return [Tensor.cumprodGradientWithZeros(x, g, axis: dim)]
        case .roll(let shift, let dim): return [g.rolled(by: -shift, along: dim)]
        case .repeat(let repeats):
            let inputShape = context.inputShape(0)
            let paddedShape = Array(repeating: 1, count: repeats.count - inputShape.count) + inputShape
            let interleavedShape = zip(repeats, paddedShape).flatMap { [$0, $1] }
            let tiles = g.reshaped(interleavedShape)
            return [repeats.isEmpty ? tiles : tiles.sum(dims: (0..<repeats.count).map { 2 * $0 }).reshaped(inputShape)]
        }
    }

    /// Layer norm's gradients, by differentiating its composition (what eager layer norm with
    /// gradients records in the first place).
    private static func layerNormGradients(_ context: BackwardContext, rank: Int, eps: Double, hasWeight: Bool,
                                           hasBias: Bool) -> [Tensor?] {
        let inputs = context.inputs.map { $0! }
        let wanted = inputs.indices.filter { context.needsGradient($0) }
        let createGraph = isGradEnabled
        let leaves = inputs.map { createGraph ? $0 : $0.detach().requiresGrad_() }
        let output = withGrad {
            Functional.layerNormComposition(leaves[0], rank: rank, weight: hasWeight ? leaves[1] : nil,
                                            bias: hasBias ? leaves[hasWeight ? 2 : 1] : nil, eps: eps)
        }
        let gradients = grad(of: [output], withRespectTo: wanted.map { leaves[$0] }, gradOutputs: [context.gradOutput],
                             createGraph: createGraph, allowUnused: true)
        var result = [Tensor?](repeating: nil, count: inputs.count)
        for (position, index) in wanted.enumerated() { result[index] = gradients[position] }
        return result
    }
}

extension BackwardContext {
    /// The dtype of input `index` (which wants a gradient).
    func inputType(_ index: Int) -> DType {
        if let input = savedInput(index) { return input.dtype }
        guard let edge = node?.nextEdges[index] else { emberFailure("backward: the dtype of input \(index) was not saved") }
        return edge.target.dtype
    }
}
