import Ember

// The ONNX form of each primitive. Each translation reads its inputs with `operand`, emits one
// or more nodes, and names its last node's output `output`. Inputs are converted to the dtype
// the Ember op computes in first, since ONNX ops take operands of one type.

extension ONNXGraphWriter {
    /// `other` is the same node in the graph traced at the next dynamic size, if any.
    mutating func translate(_ node: Graph.Node, output: String, other: Primitive? = nil) {
        let result = graph.values[node.output]
        let inputs = node.inputs
        let outType = result.dtype
        if let reason = staticSizeNeeded(node) { return note(reason) }
        switch node.primitive {
        case .unary(let name, let p0, let p1):
            unary(name, operand(inputs[0], as: outType), p0: p0, p1: p1, dtype: outType, output: output)
        case .binary(let name):
            binary(name, operand(inputs[0], as: outType), operand(inputs[1], as: outType), dtype: outType, output: output)
        case .compare(let comparison):
            let common = commonType(inputs)
            let a = operand(inputs[0], as: common), b = operand(inputs[1], as: common)
            switch comparison {
            case .eq: emit("Equal", [a, b], name: output)
            case .ne: emit("Not", [emit("Equal", [a, b])], name: output)
            case .lt: emit("Less", [a, b], name: output)
            case .le: emit("LessOrEqual", [a, b], name: output)
            case .gt: emit("Greater", [a, b], name: output)
            case .ge: emit("GreaterOrEqual", [a, b], name: output)
            }
        case .logical(let name):
            let operators = ["logicalAnd": "And", "logicalOr": "Or", "logicalXor": "Xor"]
            guard let op = operators[name] else { return note(name) }
            emit(op, [truth(inputs[0]), truth(inputs[1])], name: output)
        case .select:
            emit("Where", [truth(inputs[0]), operand(inputs[1], as: outType), operand(inputs[2], as: outType)], name: output)
        case .reduce(let name, let axes, let keepDim):
            reduce(name, inputs[0], axes: axes, keepDim: keepDim, dtype: outType, output: output)
        case .cast(let dtype):
            emit("Cast", [operand(inputs[0])], [.int("to", dtype.onnxElementType.rawValue)], name: output)
        case .copy:
            emit("Identity", [operand(inputs[0])], name: output)
        case .reshape(let shape):
            guard case .reshape(let next) = other ?? node.primitive else { return note("reshape") }
            emit("Reshape", [operand(inputs[0]), shapeTensor(shape, next)], name: output)
        case .permute(let dims):
            emit("Transpose", [operand(inputs[0])], [.ints("perm", dims)], name: output)
        case .expand(let shape):
            guard case .expand(let next) = other ?? node.primitive else { return note("expand") }
            emit("Expand", [operand(inputs[0]), shapeTensor(shape, next)], name: output)
        case .slice(let components):
            slice(operand(inputs[0]), shape: graph.values[inputs[0]].shape, components, output: output)
        case .matmul:
            emit("MatMul", [operand(inputs[0], as: outType), operand(inputs[1], as: outType)], name: output)
        case .softmax(let dim, let log):
            emit(log ? "LogSoftmax" : "Softmax", [operand(inputs[0], as: outType)], [.int("axis", dim)], name: output)
        case .layerNorm(let rank, let eps, let hasWeight, let hasBias):
            layerNorm(inputs, rank: rank, eps: eps, hasWeight: hasWeight, hasBias: hasBias, dtype: outType, output: output)
        case .gather(let dim):
            emit("GatherElements", [operand(inputs[0]), operand(inputs[1], as: .int64)], [.int("axis", dim)], name: output)
        case .scatter(let dim, let accumulate):
            if accumulate && opset < 16 { return note("scatterAdd (needs opset 16)") }
            emit("ScatterElements", [operand(inputs[0], as: outType), operand(inputs[1], as: .int64), operand(inputs[2], as: outType)],
                 [.int("axis", dim)] + (accumulate ? [.string("reduction", "add")] : []), name: output)
        case .concatenate(let dim):
            // Ember, like PyTorch, skips 1-D empty tensors in a concatenation of higher rank.
            let kept = inputs.filter { graph.values[$0].shape != [0] || result.shape.count == 1 }
            emit("Concat", kept.map { operand($0, as: outType) }, [.int("axis", dim)], name: output)
        case .conv2d(let geometry):
            // [input, weight] and an optional bias, as ONNX's Conv takes them.
            emit("Conv", inputs.map { operand($0, as: outType) },
                 [.ints("kernel_shape", [geometry.kernelHeight, geometry.kernelWidth]),
                  .ints("strides", [geometry.strideH, geometry.strideW]),
                  .ints("dilations", [geometry.dilationH, geometry.dilationW]),
                  .ints("pads", windowPads(geometry)), .int("group", geometry.groups)], name: output)
        case .conv2dInputGradient(let geometry):
            // The gradient of a convolution's input is a transposed convolution (ConvTranspose2d
            // traces as one): its input is the forward's output, its output the forward's input.
            let pads = windowPads(geometry), needed = windowReach(geometry)
            let outputPadding = [geometry.inHeight - needed[0] + pads[0] + pads[2], geometry.inWidth - needed[1] + pads[1] + pads[3]]
            emit("ConvTranspose", inputs.map { operand($0, as: outType) },
                 [.ints("kernel_shape", [geometry.kernelHeight, geometry.kernelWidth]),
                  .ints("strides", [geometry.strideH, geometry.strideW]),
                  .ints("dilations", [geometry.dilationH, geometry.dilationW]),
                  .ints("pads", pads), .ints("output_padding", outputPadding), .int("group", geometry.groups)], name: output)
        case .maxPool2d(let geometry):
            emit("MaxPool", [operand(inputs[0])],
                 [.ints("kernel_shape", [geometry.kernelHeight, geometry.kernelWidth]),
                  .ints("strides", [geometry.strideH, geometry.strideW]),
                  .ints("dilations", [geometry.dilationH, geometry.dilationW]),
                  .ints("pads", windowPads(geometry))], name: output)
        case .averagePool2d(let geometry, let transpose):
            guard !transpose else { return note("averagePool2d (transpose)") }
            averagePool(operand(inputs[0], as: outType), geometry, output: output)
        case .flip(let axes):
            emit("Slice", [operand(inputs[0]), int64s(axes.map { _ in -1 }), int64s(axes.map { _ in Int(Int64.min) }),
                           int64s(axes), int64s(axes.map { _ in -1 })], name: output)
        case .constantPad(let pads, let value):
            constantPad(operand(inputs[0]), rank: result.shape.count, pads: pads, value: value, dtype: outType, output: output)
        case .cumulativeSum(let dim, let reverse):
            emit("CumSum", [operand(inputs[0], as: outType), int64s([dim], scalar: true)],
                 [.int("reverse", reverse ? 1 : 0)], name: output)
        case .argReduce(let max, let dim, let keepDim):
            var x = operand(inputs[0])
            if dim == nil { x = emit("Reshape", [x, int64s([-1])]) }
            let indices = emit(max ? "ArgMax" : "ArgMin", [x], [.int("axis", dim ?? 0), .int("keepdims", keepDim ? 1 : 0)],
                               name: dim == nil && keepDim ? nil : output)
            if dim == nil && keepDim {
                // argmax(keepDim:) over all elements keeps every dimension as size one.
                emit("Reshape", [indices, int64s(result.shape)], name: output)
            }
        case .roll(let shift, let dim):
            roll(operand(inputs[0]), shape: graph.values[inputs[0]].shape, shift: shift, dim: dim, output: output)
        case .repeat(let repeats):
            var x = operand(inputs[0])
            let rank = graph.values[inputs[0]].shape.count
            if repeats.count > rank {
                // Extra leading repeats tile new dimensions of size one.
                x = emit("Unsqueeze", [x, int64s(Array(0..<(repeats.count - rank)))])
            }
            emit("Tile", [x, int64s(repeats)], name: output)
        case .argsort(let dim, let descending):
            let size = graph.values[inputs[0]].shape[dim]
            // TopK's second output: the indices in sorted order.
            emit("TopK", [operand(inputs[0]), int64s([size])],
                 [.int("axis", dim), .int("largest", descending ? 1 : 0), .int("sorted", 1)], outputs: [nil, output])
        case .lstm(let reverse):
            lstm(inputs, reverse: reverse, dtype: outType, output: output)
        case .sliceScatter, .sliceAssign, .conv2dWeightGradient, .maxPool2dBackward,
             .cumulativeProduct, .opaque:
            note(node.primitive.name)
        }
    }

    /// The translations below that write a size of their input as a constant, when that size
    /// is the dynamic one.
    private func staticSizeNeeded(_ node: Graph.Node) -> String? {
        let input = node.inputs.first ?? 0
        switch node.primitive {
        case .roll(_, let dim) where dependsOnDynamicSize(input, axes: [dim]),
             .argsort(let dim, _) where dependsOnDynamicSize(input, axes: [dim]):
            return "\(node.primitive.name) along the dynamic dimension"
        case .layerNorm(let rank, _, _, _):
            let rankOfInput = graph.values[input].shape.count
            return dependsOnDynamicSize(input, axes: Array((rankOfInput - rank)..<rankOfInput)) ? "layerNorm over the dynamic dimension" : nil
        default:
            return nil
        }
    }

    // MARK: Families

    private mutating func unary(_ name: String, _ x: String, p0: Double, p1: Double, dtype: DType, output: String) {
        let direct = ["neg": "Neg", "abs": "Abs", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "reciprocal": "Reciprocal",
                      "sin": "Sin", "cos": "Cos", "tan": "Tan", "tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu",
                      "erf": "Erf", "floor": "Floor", "ceil": "Ceil", "round": "Round", "sign": "Sign"]
        if let op = direct[name] {
            emit(op, [x], name: output)
            return
        }
        switch name {
        case "exp2": emit("Pow", [scalar(2, dtype), x], name: output)
        case "log2": emit("Div", [emit("Log", [x]), scalar(0.693147180559945309, dtype)], name: output)
        case "log1p": emit("Log", [emit("Add", [x, scalar(1, dtype)])], name: output)
        case "expm1": emit("Sub", [emit("Exp", [x]), scalar(1, dtype)], name: output)
        case "rsqrt": emit("Reciprocal", [emit("Sqrt", [x])], name: output)
        case "square": emit("Mul", [x, x], name: output)
        case "silu": emit("Mul", [x, emit("Sigmoid", [x])], name: output)
        case "elu": emit("Elu", [x], [.float("alpha", p0)], name: output)
        case "leakyRelu": emit("LeakyRelu", [x], [.float("alpha", p0)], name: output)
        case "clamp": emit("Clip", [x, scalar(p0, dtype), scalar(p1, dtype)], name: output)
        case "trunc": emit("Where", [emit("Less", [x, scalar(0, dtype)]), emit("Ceil", [x]), emit("Floor", [x])], name: output)
        case "softplus":
            // log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (PyTorch's rule).
            let scaled = emit("Mul", [x, scalar(p0, dtype)])
            let smooth = emit("Div", [emit("Softplus", [scaled]), scalar(p0, dtype)])
            emit("Where", [emit("Greater", [scaled, scalar(p1, dtype)]), x, smooth], name: output)
        case "gelu", "geluTanh":
            let approximate = name == "geluTanh"
            if opset >= 20 {
                emit("Gelu", [x], [.string("approximate", approximate ? "tanh" : "none")], name: output)
                return
            }
            let inner: String
            if approximate {
                // tanh(sqrt(2/pi) (x + 0.044715 x^3))
                let cube = emit("Mul", [emit("Mul", [x, x]), x])
                let sum = emit("Add", [x, emit("Mul", [cube, scalar(0.044715, dtype)])])
                inner = emit("Tanh", [emit("Mul", [sum, scalar(0.7978845608028654, dtype)])])
            } else {
                inner = emit("Erf", [emit("Mul", [x, scalar(0.7071067811865476, dtype)])])
            }
            let half = emit("Mul", [x, scalar(0.5, dtype)])
            emit("Mul", [half, emit("Add", [inner, scalar(1, dtype)])], name: output)
        default:
            note(name)
        }
    }

    private mutating func binary(_ name: String, _ a: String, _ b: String, dtype: DType, output: String) {
        let direct = ["add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow", "maximum": "Max", "minimum": "Min"]
        if let op = direct[name] {
            emit(op, [a, b], name: output)
            return
        }
        switch name {
        case "remainder" where dtype.isFloatingPoint:
            // a - floor(a / b) b: the result takes the sign of b, as in Python and PyTorch.
            emit("Sub", [a, emit("Mul", [emit("Floor", [emit("Div", [a, b])]), b])], name: output)
        case "remainder":
            emit("Mod", [a, b], [.int("fmod", 0)], name: output)
        case "floorDivide" where dtype.isFloatingPoint:
            emit("Floor", [emit("Div", [a, b])], name: output)
        case "floorDivide":
            // (a - a mod b) / b divides exactly, so ONNX's truncating Div gives the floor.
            emit("Div", [emit("Sub", [a, emit("Mod", [a, b], [.int("fmod", 0)])]), b], name: output)
        default:
            note(name)
        }
    }

    private mutating func reduce(_ name: String, _ input: Int, axes: [Int], keepDim: Bool, dtype: DType, output: String) {
        let keep = ONNXAttribute.int("keepdims", keepDim ? 1 : 0)
        if name == "all" || name == "any" {
            // As 0/1 integers: all is their minimum, any their maximum.
            let flags = emit("Cast", [truth(input)], [.int("to", DType.int32.onnxElementType.rawValue)])
            let reduced = reduceNode(name == "all" ? "ReduceMin" : "ReduceMax", flags, axes: axes, keep: keep)
            emit("Cast", [reduced], [.int("to", DType.bool.onnxElementType.rawValue)], name: output)
            return
        }
        let operators = ["sum": "ReduceSum", "mean": "ReduceMean", "prod": "ReduceProd", "amax": "ReduceMax",
                         "amin": "ReduceMin", "logsumexp": "ReduceLogSumExp", "norm": "ReduceL2"]
        guard let op = operators[name] else { return note(name) }
        reduceNode(op, operand(input, as: dtype), axes: axes, keep: keep, output: output)
    }

    /// A reduction node: axes as an input for ReduceSum from opset 13 and for the others from
    /// 18, as an attribute before.
    @discardableResult
    private mutating func reduceNode(_ op: String, _ x: String, axes: [Int], keep: ONNXAttribute, output: String? = nil) -> String {
        if op == "ReduceSum" || opset >= 18 {
            return emit(op, axes.isEmpty ? [x] : [x, int64s(axes)], [keep], name: output)
        }
        return emit(op, [x], axes.isEmpty ? [keep] : [.ints("axes", axes), keep], name: output)
    }

    private mutating func slice(_ x: String, shape: [Int], _ components: [SliceComponent], output: String) {
        var starts: [Int] = [], ends: [Int] = [], axes: [Int] = [], steps: [Int] = []
        var squeezed: [Int] = [], inserted: [Int] = []
        var axis = 0, outputAxis = 0
        for component in components {
            switch component {
            case .range(let start, let end, let step):
                if !(start == 0 && end >= shape[axis] && step == 1) {
                    starts.append(start); ends.append(Swift.min(end, Int(Int64.max))); axes.append(axis); steps.append(step)
                }
                axis += 1
                outputAxis += 1
            case .index(let index):
                starts.append(index); ends.append(index + 1); axes.append(axis); steps.append(1)
                squeezed.append(axis)
                axis += 1
            case .newAxis:
                inserted.append(outputAxis)
                outputAxis += 1
            }
        }
        var current = x
        let last = (squeezed.isEmpty ? 0 : 1) + (inserted.isEmpty ? 0 : 1)
        if !axes.isEmpty {
            current = emit("Slice", [current, int64s(starts), int64s(ends), int64s(axes), int64s(steps)],
                           name: last == 0 ? output : nil)
        }
        if !squeezed.isEmpty {
            current = emit("Squeeze", [current, int64s(squeezed)], name: inserted.isEmpty ? output : nil)
        }
        if !inserted.isEmpty {
            current = emit("Unsqueeze", [current, int64s(inserted)], name: output)
        }
        if current != output { emit("Identity", [current], name: output) }
    }

    private mutating func layerNorm(_ inputs: [Int], rank: Int, eps: Double, hasWeight: Bool, hasBias: Bool,
                                    dtype: DType, output: String) {
        let x = operand(inputs[0], as: dtype)
        let normalizedShape = Array(graph.values[inputs[0]].shape.suffix(rank))
        var next = 1
        let weight = hasWeight ? operand(inputs[next], as: dtype) : nil
        if hasWeight { next += 1 }
        let bias = hasBias ? operand(inputs[next], as: dtype) : nil
        if opset >= 17 {
            // LayerNormalization requires a scale: ones when the layer has none.
            let scale = weight ?? ones(normalizedShape, dtype)
            emit("LayerNormalization", [x, scale] + (bias.map { [$0] } ?? []),
                 [.int("axis", -rank), .float("epsilon", eps)], name: output)
            return
        }
        // Before opset 17: (x - mean) / sqrt(var + eps), the variance biased, then scale and shift.
        let axes = Array((graph.values[inputs[0]].shape.count - rank)..<graph.values[inputs[0]].shape.count)
        let keep = ONNXAttribute.int("keepdims", 1)
        let centered = emit("Sub", [x, reduceNode("ReduceMean", x, axes: axes, keep: keep)])
        let variance = reduceNode("ReduceMean", emit("Mul", [centered, centered]), axes: axes, keep: keep)
        var y = emit("Div", [centered, emit("Sqrt", [emit("Add", [variance, scalar(eps, dtype)])])],
                     name: weight == nil && bias == nil ? output : nil)
        if let weight { y = emit("Mul", [y, weight], name: bias == nil ? output : nil) }
        if let bias { emit("Add", [y, bias], name: output) }
    }

    private mutating func averagePool(_ planes: String, _ geometry: AveragePoolGeometry, output: String) {
        let w = geometry.window
        // The primitive pools [P, H, W] planes; ONNX pools [N, C, H, W].
        let batched = emit("Unsqueeze", [planes, int64s([0])])
        let pooled: String
        if geometry.adaptive {
            guard w.inHeight % w.outHeight == 0, w.inWidth % w.outWidth == 0 else {
                return note("adaptiveAvgPool2d (input size not a multiple of the output size)")
            }
            let kernel = [w.inHeight / w.outHeight, w.inWidth / w.outWidth]
            pooled = emit("AveragePool", [batched], [.ints("kernel_shape", kernel), .ints("strides", kernel)])
        } else {
            guard geometry.divisor == nil else { return note("avgPool2d (divisorOverride)") }
            let pads = windowPads(w)
            // Ceil mode's extra end padding must not count as padding.
            guard !geometry.countIncludePad || (pads[2] <= w.padH && pads[3] <= w.padW) else {
                return note("avgPool2d (ceilMode with countIncludePad)")
            }
            pooled = emit("AveragePool", [batched],
                          [.ints("kernel_shape", [w.kernelHeight, w.kernelWidth]), .ints("strides", [w.strideH, w.strideW]),
                           .ints("pads", pads), .int("count_include_pad", geometry.countIncludePad ? 1 : 0)])
        }
        emit("Squeeze", [pooled, int64s([0])], name: output)
    }

    private mutating func constantPad(_ x: String, rank: Int, pads: [Int], value: Double, dtype: DType, output: String) {
        // The primitive's pads are (begin, end) pairs in dim order; ONNX wants all begins, then
        // all ends.
        let begins = (0..<rank).map { pads[2 * $0] }, ends = (0..<rank).map { pads[2 * $0 + 1] }
        emit("Pad", [x, int64s(begins + ends), scalar(value, dtype)], [.string("mode", "constant")], name: output)
    }

    private mutating func roll(_ x: String, shape: [Int], shift: Int, dim: Int, output: String) {
        let size = shape[dim]
        let s = size == 0 ? 0 : ((shift % size) + size) % size
        guard s != 0 else {
            emit("Identity", [x], name: output)
            return
        }
        let tail = emit("Slice", [x, int64s([size - s]), int64s([size]), int64s([dim])])
        let head = emit("Slice", [x, int64s([0]), int64s([size - s]), int64s([dim])])
        emit("Concat", [tail, head], [.int("axis", dim)], name: output)
    }

    /// ONNX's LSTM op over inputs that are already projected: X is the input gates [T, B, 4H]
    /// (input size 4H), W a permutation that puts PyTorch's gate order (i, f, g, o) into
    /// ONNX's (i, o, f, c), exact since each row picks one element, R the hidden weight with
    /// its rows in ONNX's order, no bias (Ember's gates carry both). The results are joined
    /// into the primitive's [T + 2, B, H].
    private mutating func lstm(_ inputs: [Int], reverse: Bool, dtype: DType, output: String) {
        let hidden = graph.values[inputs[2]].shape[1]
        let order = [0, 3, 1, 2] // ONNX's gate k is PyTorch's gate order[k]
        var permutation = [Double](repeating: 0, count: 16 * hidden * hidden)
        var rows: [Int] = []
        for (block, source) in order.enumerated() {
            for j in 0..<hidden {
                permutation[(block * hidden + j) * 4 * hidden + source * hidden + j] = 1
                rows.append(source * hidden + j)
            }
        }
        let w = constant(Tensor(shape: [1, 4 * hidden, 4 * hidden], scalars: permutation).to(dtype), hint: "lstm_gate_order")
        let r = emit("Unsqueeze", [emit("Gather", [operand(inputs[1], as: dtype), int64s(rows)], [.int("axis", 0)]), int64s([0])])
        let h0 = emit("Unsqueeze", [operand(inputs[2], as: dtype), int64s([0])])
        let c0 = emit("Unsqueeze", [operand(inputs[3], as: dtype), int64s([0])])
        let results = emit("LSTM", [operand(inputs[0], as: dtype), w, r, "", "", h0, c0],
                           [.int("hidden_size", hidden), .string("direction", reverse ? "reverse" : "forward")],
                           outputs: [nil, nil, nil])
        let steps = emit("Squeeze", [results[0], int64s([1])])
        emit("Concat", [steps, results[1], results[2]], [.int("axis", 0)], name: output)
    }

    // MARK: Helpers

    /// [beginH, beginW, endH, endW]: the end padding is whatever makes ONNX's floor rule give
    /// the output size (ceil mode, and PyTorch's unused last rows, come out right).
    func windowPads(_ g: ConvolutionGeometry) -> [Int] {
        let needed = windowReach(g)
        return [g.padH, g.padW, Swift.max(0, needed[0] - g.inHeight - g.padH), Swift.max(0, needed[1] - g.inWidth - g.padW)]
    }

    /// How many rows and columns (padding included) the windows span: from the first window's
    /// start to the last window's end.
    func windowReach(_ g: ConvolutionGeometry) -> [Int] {
        [(g.outHeight - 1) * g.strideH + g.dilationH * (g.kernelHeight - 1) + 1,
         (g.outWidth - 1) * g.strideW + g.dilationW * (g.kernelWidth - 1) + 1]
    }

    /// A value as bool (ONNX's logical ops and Where take bool): nonzero is true.
    private mutating func truth(_ value: Int) -> String {
        let dtype = graph.values[value].dtype
        if dtype == .bool { return operand(value) }
        return emit("Not", [emit("Equal", [operand(value), scalar(0, dtype)])])
    }

    /// The dtype two operands of a comparison meet in: a 0-d constant takes the other side's
    /// type (Ember's wrapped numbers), otherwise the wider of the two.
    private func commonType(_ inputs: [Int]) -> DType {
        let a = graph.values[inputs[0]], b = graph.values[inputs[1]]
        if a.dtype == b.dtype { return a.dtype }
        if b.shape.isEmpty, case .constant = b.source { return a.dtype }
        if a.shape.isEmpty, case .constant = a.source { return b.dtype }
        let order: [DType] = [.bool, .uint8, .int32, .int64, .bfloat16, .float16, .float32, .float64]
        return order.firstIndex(of: a.dtype)! > order.firstIndex(of: b.dtype)! ? a.dtype : b.dtype
    }

    private mutating func ones(_ shape: [Int], _ dtype: DType) -> String {
        emit("Expand", [scalar(1, dtype), int64s(shape)])
    }
}
