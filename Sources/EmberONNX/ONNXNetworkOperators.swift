import Ember

extension ONNXOperators {
    static let networkOperators: [String: ONNXOperator] = {
        var table: [String: ONNXOperator] = [:]
        table["Conv"] = { node in [try convolution(node)] }
        table["ConvTranspose"] = { node in [try transposedConvolution(node)] }
        table["MaxPool"] = { node in
            guard node.proto.output.count < 2 || node.proto.output[1].isEmpty else { throw node.fail("the Indices output is not supported") }
            return [try pool(node, max: true)]
        }
        table["AveragePool"] = { node in [try pool(node, max: false)] }
        for (name, reduction) in [("GlobalAveragePool", "mean"), ("GlobalMaxPool", "amax")] {
            table[name] = { node in
                let x = try node.input(0)
                guard x.rank >= 3 else { throw node.fail("expected [N, C, …], got \(x.shape)") }
                return [try node.run(.reduce(reduction, axes: Array(2..<x.rank), keepDim: true), x)]
            }
        }
        table["BatchNormalization"] = { node in
            let x = try node.input(0)
            guard try node.int("training_mode", 0) == 0 else { throw node.fail("training_mode is not supported") }
            guard x.rank >= 2 else { throw node.fail("expected [N, C, …], got \(x.shape)") }
            let channels = [x.shape[1]] + Array(repeating: 1, count: x.rank - 2)
            let (scale, bias, mean, variance) = try (node.input(1), node.input(2), node.input(3), node.input(4))
            let eps = node.float("epsilon", 1e-5)
            // Per channel first (small tensors), so the input is read twice, not three times:
            // y = x · (scale / sqrt(var + eps)) + (bias - mean · scale / sqrt(var + eps)).
            let inverse = try node.run(.unary("rsqrt"), node.run(.binary("add"), node.reshape(variance, channels), node.scalar(eps, x.dtype)))
            let gain = try node.run(.binary("mul"), inverse, node.reshape(scale, channels))
            let shift = try node.run(.binary("sub"), node.reshape(bias, channels), node.run(.binary("mul"), node.reshape(mean, channels), gain))
            return [try node.run(.binary("add"), node.run(.binary("mul"), x, gain), shift)]
        }
        table["LayerNormalization"] = { node in
            let x = try node.input(0)
            let axis = try node.axis(node.int("axis", -1), rank: x.rank)
            let eps = node.float("epsilon", 1e-5)
            if node.proto.output.count > 1 && !node.proto.output.dropFirst().allSatisfy(\.isEmpty) {
                return try layerNormWithStatistics(node, x, axis: axis, eps: eps)
            }
            let operands = [x, try node.input(1)] + (node.optional(2).map { [$0] } ?? [])
            let normalizedShape = Array(x.shape[axis...])
            let reshaped = try operands.dropFirst().map { try node.reshape($0, normalizedShape) }
            return [try node.run(.layerNorm(normalizedRank: x.rank - axis, eps: eps, hasWeight: true, hasBias: operands.count == 3),
                                 [x] + reshaped)]
        }
        table["InstanceNormalization"] = { node in
            let x = try node.input(0)
            guard x.rank >= 3 else { throw node.fail("expected [N, C, …], got \(x.shape)") }
            let channels = [x.shape[1]] + Array(repeating: 1, count: x.rank - 2)
            let normalized = try normalize(node, x, axes: Array(2..<x.rank), eps: node.float("epsilon", 1e-5))
            let scaled = try node.run(.binary("mul"), normalized, node.reshape(node.input(1), channels))
            return [try node.run(.binary("add"), scaled, node.reshape(node.input(2), channels))]
        }
        table["LSTM"] = { node in try lstm(node) }
        table["LRN"] = { node in [try localResponseNormalization(node)] }
        return table
    }()

    /// LayerNormalization asked for its Mean and InvStdDev outputs too: the composition.
    static func layerNormWithStatistics(_ node: ONNXNode, _ x: Tensor, axis: Int, eps: Double) throws -> [Tensor] {
        let axes = Array(axis..<x.rank)
        let mean = try node.run(.reduce("mean", axes: axes, keepDim: true), x)
        let centered = try node.run(.binary("sub"), x, mean)
        let variance = try node.run(.reduce("mean", axes: axes, keepDim: true), node.run(.binary("mul"), centered, centered))
        let inverse = try node.run(.unary("rsqrt"), node.run(.binary("add"), variance, node.scalar(eps, x.dtype)))
        var y = try node.run(.binary("mul"), node.run(.binary("mul"), centered, inverse), node.input(1))
        if let bias = node.optional(2) { y = try node.run(.binary("add"), y, bias) }
        return [y, mean, inverse]
    }

    /// (x - mean) / sqrt(biased variance + eps) over `axes`.
    static func normalize(_ node: ONNXNode, _ x: Tensor, axes: [Int], eps: Double) throws -> Tensor {
        let mean = try node.run(.reduce("mean", axes: axes, keepDim: true), x)
        let centered = try node.run(.binary("sub"), x, mean)
        let variance = try node.run(.reduce("mean", axes: axes, keepDim: true), node.run(.binary("mul"), centered, centered))
        return try node.run(.binary("mul"), centered, node.run(.unary("rsqrt"), node.run(.binary("add"), variance, node.scalar(eps, x.dtype))))
    }

    /// The spatial attributes of a Conv or pooling node over a 2-D window (1-D inputs are seen
    /// as one row): kernel, strides, dilations and the pads before and after, `auto_pad` resolved.
    struct Window {
        var kernel: [Int], strides: [Int], dilations: [Int], begin: [Int], end: [Int]
    }

    static func window(_ node: ONNXNode, input: Tensor, kernel: [Int]) throws -> Window {
        let spatial = input.rank - 2
        guard spatial == 1 || spatial == 2, kernel.count == spatial else {
            throw node.fail("only 1-D and 2-D windows are supported (input \(input.shape), kernel \(kernel))")
        }
        let strides = node.ints("strides") ?? Array(repeating: 1, count: spatial)
        let dilations = node.ints("dilations") ?? Array(repeating: 1, count: spatial)
        var pads = node.ints("pads") ?? Array(repeating: 0, count: 2 * spatial)
        guard strides.count == spatial, dilations.count == spatial, pads.count == 2 * spatial,
              (kernel + strides + dilations).allSatisfy({ $0 >= 1 && $0 < 1 << 20 }), pads.allSatisfy({ $0 >= 0 && $0 < 1 << 20 }) else {
            throw node.fail("bad kernel \(kernel), strides \(strides), dilations \(dilations) or pads \(pads)")
        }
        let autoPad = node.string("auto_pad", "NOTSET")
        if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
            for d in 0..<spatial {
                let size = input.shape[2 + d], out = (size + strides[d] - 1) / strides[d]
                let total = Swift.max(0, (out - 1) * strides[d] + (kernel[d] - 1) * dilations[d] + 1 - size)
                let small = total / 2
                (pads[d], pads[d + spatial]) = autoPad == "SAME_UPPER" ? (small, total - small) : (total - small, small)
            }
        } else if autoPad == "VALID" {
            pads = Array(repeating: 0, count: 2 * spatial)
        } else if autoPad != "NOTSET" {
            throw node.fail("auto_pad \(autoPad)")
        }
        var window = Window(kernel: kernel, strides: strides, dilations: dilations, begin: Array(pads[..<spatial]), end: Array(pads[spatial...]))
        if spatial == 1 {
            window = Window(kernel: [1] + kernel, strides: [1] + strides, dilations: [1] + dilations, begin: [0] + window.begin, end: [0] + window.end)
        }
        return window
    }

    /// Input [N, C, H, W] (1-D inputs get a row dimension) padded explicitly where the window's
    /// padding is not one the primitive carries (the same before and after), and the geometry.
    static func prepared(_ node: ONNXNode, _ input: Tensor, _ w: Window, groups: Int, padValue: Double, ceil: Bool = false)
        throws -> (Tensor, ConvolutionGeometry) {
        var x = input.rank == 3 ? try node.reshape(input, [input.shape[0], input.shape[1], 1, input.shape[2]]) : input
        var pad = w.begin
        if w.begin != w.end {
            x = try node.run(.constantPad([0, 0, 0, 0, w.begin[0], w.end[0], w.begin[1], w.end[1]], value: padValue), x)
            pad = [0, 0]
        }
        let (height, width) = (x.shape[2], x.shape[3])
        func out(_ size: Int, _ d: Int) -> Int {
            let span = size + 2 * pad[d] - w.dilations[d] * (w.kernel[d] - 1) - 1
            guard span >= 0 else { return 0 }
            var n = (ceil ? (span + w.strides[d] - 1) / w.strides[d] : span / w.strides[d]) + 1
            // Ceil mode: the last window must start inside the input or its left padding.
            if ceil && (n - 1) * w.strides[d] >= size + pad[d] { n -= 1 }
            return n
        }
        let geometry = ConvolutionGeometry(inHeight: height, inWidth: width, outHeight: out(height, 0), outWidth: out(width, 1),
                                           kernelHeight: w.kernel[0], kernelWidth: w.kernel[1], strideH: w.strides[0], strideW: w.strides[1],
                                           padH: pad[0], padW: pad[1], dilationH: w.dilations[0], dilationW: w.dilations[1], groups: groups)
        return (x, geometry)
    }

    /// [N, C, 1, W] back to [N, C, W] for 1-D inputs.
    static func restored(_ node: ONNXNode, _ y: Tensor, like input: Tensor) throws -> Tensor {
        input.rank == 3 ? try node.reshape(y, [y.shape[0], y.shape[1], y.shape[3]]) : y
    }

    static func convolution(_ node: ONNXNode) throws -> Tensor {
        let input = try node.input(0), weight = try node.input(1)
        guard input.rank == 3 || input.rank == 4, weight.rank == input.rank else {
            throw node.fail("only 1-D and 2-D convolutions are supported (input \(input.shape), weight \(weight.shape))")
        }
        let w = try window(node, input: input, kernel: node.ints("kernel_shape") ?? Array(weight.shape[2...]))
        let groups = try node.int("group", 1)
        let (x, geometry) = try prepared(node, input, w, groups: groups, padValue: 0)
        let kernel = weight.rank == 3 ? try node.reshape(weight, [weight.shape[0], weight.shape[1], 1, weight.shape[2]]) : weight
        let y = try node.run(.conv2d(geometry), [x, kernel] + (node.optional(2).map { [$0] } ?? []))
        return try restored(node, y, like: input)
    }

    static func transposedConvolution(_ node: ONNXNode) throws -> Tensor {
        let input = try node.input(0), weight = try node.input(1)
        guard input.rank == 4, weight.rank == 4 else { throw node.fail("only 2-D transposed convolutions are supported") }
        guard !node.has("output_shape"), node.string("auto_pad", "NOTSET") == "NOTSET" else {
            throw node.fail("output_shape and auto_pad are not supported")
        }
        let w = try window(node, input: input, kernel: node.ints("kernel_shape") ?? Array(weight.shape[2...]))
        let outputPadding = node.ints("output_padding") ?? [0, 0]
        guard outputPadding.count == 2 else { throw node.fail("bad output_padding") }
        let groups = try node.int("group", 1)
        // The gradient of the convolution whose input has the transposed output's size (the
        // padding before it is the geometry's; the type rule checks the one after fits).
        let sizes = (0..<2).map { (d: Int) -> Int in
            let span: Int = (input.shape[2 + d] - 1) * w.strides[d] - w.begin[d] - w.end[d]
            let reach: Int = w.dilations[d] * (w.kernel[d] - 1) + 1
            return span + reach + outputPadding[d]
        }
        let geometry = ConvolutionGeometry(inHeight: sizes[0], inWidth: sizes[1], outHeight: input.shape[2], outWidth: input.shape[3],
                                           kernelHeight: w.kernel[0], kernelWidth: w.kernel[1], strideH: w.strides[0], strideW: w.strides[1],
                                           padH: w.begin[0], padW: w.begin[1], dilationH: w.dilations[0], dilationW: w.dilations[1], groups: groups)
        var y = try node.run(.conv2dInputGradient(geometry), input, weight)
        if let bias = node.optional(2) { y = try node.run(.binary("add"), y, node.reshape(bias, [bias.count, 1, 1])) }
        return y
    }

    static func pool(_ node: ONNXNode, max: Bool) throws -> Tensor {
        let input = try node.input(0)
        guard input.rank == 3 || input.rank == 4 else { throw node.fail("only 1-D and 2-D pooling is supported, got \(input.shape)") }
        guard let kernel = node.ints("kernel_shape") else { throw node.fail("kernel_shape is required") }
        let ceil = try node.int("ceil_mode", 0) != 0
        let w = try window(node, input: input, kernel: kernel)
        if max {
            let (x, geometry) = try prepared(node, input, w, groups: 1, padValue: -.infinity, ceil: ceil)
            return try restored(node, try node.run(.maxPool2d(geometry), x), like: input)
        }
        let countIncludePad = try node.int("count_include_pad", 0) != 0
        if !countIncludePad && w.begin != w.end {
            // Uneven padding that must not count: the mean over real elements is the padded
            // sum over the padded count, both as averages over zero-padded windows.
            let shape = input.rank == 3 ? [1, 1, 1, input.shape[2]] : [1, 1, input.shape[2], input.shape[3]]
            let ones = withNoGrad { Tensor.ones(shape, dtype: input.dtype) }
            let sums = try averagePool(node, input, w, ceil: ceil, countIncludePad: true)
            let counts = try averagePool(node, input.rank == 3 ? try node.reshape(ones, [1, 1, input.shape[2]]) : ones, w, ceil: ceil,
                                         countIncludePad: true)
            return try node.run(.binary("div"), sums, counts)
        }
        return try averagePool(node, input, w, ceil: ceil, countIncludePad: countIncludePad)
    }

    /// Average pooling of [N, C, …] over `w` (explicit zero padding where uneven).
    static func averagePool(_ node: ONNXNode, _ input: Tensor, _ w: Window, ceil: Bool, countIncludePad: Bool) throws -> Tensor {
        let (x, geometry) = try prepared(node, input, w, groups: 1, padValue: 0, ceil: ceil)
        let planes = try node.reshape(x, [x.shape[0] * x.shape[1], x.shape[2], x.shape[3]])
        let average = AveragePoolGeometry(window: geometry, countIncludePad: countIncludePad, divisor: nil, adaptive: false)
        let pooled = try node.run(.averagePool2d(average, transpose: false), planes)
        return try restored(node, node.reshape(pooled, [x.shape[0], x.shape[1], geometry.outHeight, geometry.outWidth]), like: input)
    }

    /// x / (bias + alpha / size · Σ x²)^beta, the sum over `size` neighbouring channels: an
    /// average pool of x² along the channels (zero-padded, padding counted).
    static func localResponseNormalization(_ node: ONNXNode) throws -> Tensor {
        let x = try node.input(0)
        guard x.rank >= 3 else { throw node.fail("expected [N, C, …], got \(x.shape)") }
        let size = try node.int("size")
        guard size >= 1 && size < 1 << 16 else { throw node.fail("bad size \(size)") }
        let (batch, channels) = (x.shape[0], x.shape[1]), spatial = x.shape[2...].reduce(1, *)
        let before = (size - 1) / 2, after = size - 1 - before
        let squares = try node.reshape(node.run(.binary("mul"), x, x), [batch, channels, spatial])
        let padded = try node.run(.constantPad([0, 0, before, after, 0, 0], value: 0), squares)
        let window = ConvolutionGeometry(inHeight: channels + size - 1, inWidth: spatial, outHeight: channels, outWidth: spatial,
                                         kernelHeight: size, kernelWidth: 1, strideH: 1, strideW: 1, padH: 0, padW: 0,
                                         dilationH: 1, dilationW: 1, groups: 1)
        let mean = try node.run(.averagePool2d(AveragePoolGeometry(window: window, countIncludePad: true, divisor: nil, adaptive: false),
                                               transpose: false), padded)
        let base = try node.run(.binary("add"), node.scalar(node.float("bias", 1), x.dtype),
                                node.run(.binary("mul"), mean, node.scalar(node.float("alpha", 1e-4), x.dtype)))
        let scale = try node.run(.binary("pow"), base, node.scalar(node.float("beta", 0.75), x.dtype))
        return try node.run(.binary("div"), x, node.reshape(scale, x.shape))
    }

    /// ONNX's LSTM (default activations, no peepholes or clipping): each direction's input
    /// projection, then Ember's fused recurrence (the `lstm` primitive) with the gates
    /// reordered from ONNX's i, o, f, c to PyTorch's i, f, g, o.
    static func lstm(_ node: ONNXNode) throws -> [Tensor] {
        var x = try node.input(0)
        let w = try node.input(1), r = try node.input(2)
        let hidden = try node.int("hidden_size")
        let direction = node.string("direction", "forward")
        let directions = direction == "bidirectional" ? 2 : 1
        guard node.optional(4) == nil, node.optional(7) == nil, !node.has("clip"), try node.int("input_forget", 0) == 0,
              node.ints("activations") == nil || node.ints("activations") == [] else {
            throw node.fail("sequence_lens, peepholes, clip, input_forget and custom activations are not supported")
        }
        let batchFirst = try node.int("layout", 0) == 1
        if batchFirst { x = try node.run(.permute([1, 0, 2]), x) }
        guard x.rank == 3, w.shape == [directions, 4 * hidden, x.shape[2]], r.shape == [directions, 4 * hidden, hidden] else {
            throw node.fail("expected X [T, B, I], W [\(directions), 4H, I], R [\(directions), 4H, H], got \(x.shape), \(w.shape), \(r.shape)")
        }
        let (steps, batch) = (x.shape[0], x.shape[1])
        let order = [0, 2, 3, 1] // PyTorch's gate k is ONNX's gate order[k]
        let rows = order.flatMap { block in (0..<hidden).map { block * hidden + $0 } }
        func reordered(_ t: Tensor) throws -> Tensor {  // [4H, …] rows into PyTorch's order
            try node.take(t, axis: 0, positions: rows)
        }
        func state(_ index: Int, _ d: Int) throws -> Tensor {
            guard let given = node.optional(index) else { return withNoGrad { Tensor.zeros([batch, hidden], dtype: x.dtype) } }
            let s = batchFirst ? try node.run(.permute([1, 0, 2]), given) : given
            guard s.shape == [directions, batch, hidden] else { throw node.fail("initial state \(s.shape)") }
            return try node.run(.slice([.index(d), .range(start: 0, end: batch, step: 1), .range(start: 0, end: hidden, step: 1)]), s)
        }
        var outputs: [Tensor] = [], finalH: [Tensor] = [], finalC: [Tensor] = []
        for d in 0..<directions {
            let pick = { (t: Tensor) in try node.run(.slice([.index(d)] + t.shape.dropFirst().map { .range(start: 0, end: $0, step: 1) }), t) }
            let inputWeight = try reordered(pick(w)), hiddenWeight = try reordered(pick(r))
            var gates = try node.run(.matmul, node.reshape(x, [steps * batch, x.shape[2]]), node.run(.permute([1, 0]), inputWeight))
            if let b = node.optional(3) {
                guard b.shape == [directions, 8 * hidden] else { throw node.fail("B has shape \(b.shape)") }
                let biases = try pick(b)
                let sum = try node.run(.binary("add"), node.run(.slice([.range(start: 0, end: 4 * hidden, step: 1)]), biases),
                                       node.run(.slice([.range(start: 4 * hidden, end: 8 * hidden, step: 1)]), biases))
                gates = try node.run(.binary("add"), gates, reordered(sum))
            }
            let reverse = direction == "reverse" || d == 1
            let packed = try node.run(.lstm(reverse: reverse), node.reshape(gates, [steps, batch, 4 * hidden]), hiddenWeight,
                                      state(5, d), state(6, d))
            let all = { (start: Int, count: Int) in
                try node.run(.slice([.range(start: start, end: start + count, step: 1), .range(start: 0, end: batch, step: 1),
                                     .range(start: 0, end: hidden, step: 1)]), packed)
            }
            outputs.append(try all(0, steps))
            finalH.append(try all(steps, 1))
            finalC.append(try all(steps + 1, 1))
        }
        var y = try node.run(.concatenate(dim: 1), try outputs.map { try node.reshape($0, [steps, 1, batch, hidden]) })
        var yH = try node.run(.concatenate(dim: 0), finalH), yC = try node.run(.concatenate(dim: 0), finalC)
        if batchFirst {
            y = try node.run(.permute([2, 0, 1, 3]), y)
            yH = try node.run(.permute([1, 0, 2]), yH)
            yC = try node.run(.permute([1, 0, 2]), yC)
        }
        return [y, yH, yC]
    }
}
