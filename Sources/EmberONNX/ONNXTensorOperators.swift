import Ember

extension ONNXOperators {
    /// ONNX's element types as Ember dtypes (the narrow integers widen to int32).
    static func dtype(onnx value: Int) -> DType? {
        switch Onnx_TensorProto.DataType(rawValue: value) {
        case .float?: return .float32
        case .double?: return .float64
        case .float16?: return .float16
        case .bfloat16?: return .bfloat16
        case .int32?, .int8?, .int16?, .uint16?: return .int32
        case .int64?, .uint32?: return .int64
        case .uint8?: return .uint8
        case .bool?: return .bool
        default: return nil
        }
    }

    static let tensorOperators: [String: ONNXOperator] = {
        var table: [String: ONNXOperator] = [:]
        table["MatMul"] = { node in [try node.run(.matmul, node.input(0), node.input(1))] }
        table["Gemm"] = { node in
            var a = try node.input(0), b = try node.input(1)
            guard a.rank == 2, b.rank == 2 else { throw node.fail("Gemm takes matrices, got \(a.shape) and \(b.shape)") }
            if try node.int("transA", 0) != 0 { a = try node.run(.permute([1, 0]), a) }
            if try node.int("transB", 0) != 0 { b = try node.run(.permute([1, 0]), b) }
            var y = try node.run(.matmul, a, b)
            let alpha = node.float("alpha", 1), beta = node.float("beta", 1)
            if alpha != 1 { y = try node.run(.binary("mul"), y, node.scalar(alpha, y.dtype)) }
            if let c = node.optional(2), beta != 0 {
                y = try node.run(.binary("add"), y, beta == 1 ? c : node.run(.binary("mul"), c, node.scalar(beta, c.dtype)))
            }
            return [y]
        }
        table["Transpose"] = { node in
            let x = try node.input(0)
            let perm = node.ints("perm") ?? Array((0..<x.rank).reversed())
            return [try node.run(.permute(perm), x)]
        }
        table["Reshape"] = { node in
            let x = try node.input(0)
            let requested = try node.opset < 5 ? (node.ints("shape") ?? []) : node.hostInts(node.input(1))
            let allowZero = try node.int("allowzero", 0) != 0
            var shape = requested.enumerated().map { index, size in size == 0 && !allowZero && index < x.rank ? x.shape[index] : size }
            if let inferred = shape.firstIndex(of: -1) {
                var others = shape
                others.remove(at: inferred)
                guard let known = CheckedSize.product(others), known > 0, x.count % known == 0 else {
                    throw node.fail("cannot reshape \(x.shape) to \(requested)")
                }
                shape[inferred] = x.count / known
            }
            return [try node.reshape(x, shape)]
        }
        table["Flatten"] = { node in
            let x = try node.input(0)
            let axis = try node.int("axis", 1)
            let split = axis < 0 ? axis + x.rank : axis
            guard split >= 0 && split <= x.rank else { throw node.fail("axis \(axis) out of range for rank \(x.rank)") }
            return [try node.reshape(x, [x.shape[..<split].reduce(1, *), x.shape[split...].reduce(1, *)])]
        }
        table["Squeeze"] = { node in
            let x = try node.input(0)
            let requested = try node.opset < 13 ? node.ints("axes") : node.optional(1).map { try node.hostInts($0) }
            let axes = try Set((requested ?? x.shape.indices.filter { x.shape[$0] == 1 }).map { try node.axis($0, rank: x.rank) })
            guard axes.allSatisfy({ x.shape[$0] == 1 }) else { throw node.fail("cannot squeeze axes \(axes.sorted()) of \(x.shape)") }
            return [try node.reshape(x, x.shape.indices.filter { !axes.contains($0) }.map { x.shape[$0] })]
        }
        table["Unsqueeze"] = { node in
            let x = try node.input(0)
            let requested = try node.opset < 13 ? (node.ints("axes") ?? []) : node.hostInts(node.input(1))
            let rank = x.rank + requested.count
            let axes = try Set(requested.map { try node.axis($0, rank: rank) })
            guard axes.count == requested.count else { throw node.fail("repeated axes \(requested)") }
            var sizes = x.shape.makeIterator()
            return [try node.reshape(x, (0..<rank).map { axes.contains($0) ? 1 : sizes.next()! })]
        }
        table["Concat"] = { node in
            let operands = node.inputs.compactMap { $0 }
            guard let first = operands.first else { throw node.fail("needs at least one input") }
            return [try node.run(.concatenate(dim: node.axis(node.int("axis"), rank: first.rank)), operands)]
        }
        table["Split"] = { node in
            let x = try node.input(0)
            let axis = try node.axis(node.int("axis", 0), rank: x.rank)
            var sizes: [Int]
            if node.opset >= 13, let split = node.optional(1) {
                sizes = try node.hostInts(split)
            } else if let split = node.ints("split") {
                sizes = split
            } else {
                let parts = node.opset >= 18 ? try node.int("num_outputs") : node.proto.output.count
                guard parts > 0 else { throw node.fail("no outputs") }
                let chunk = (x.shape[axis] + parts - 1) / parts
                sizes = (0..<parts).map { Swift.max(0, Swift.min(chunk, x.shape[axis] - $0 * chunk)) }
            }
            guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == x.shape[axis] else {
                throw node.fail("split sizes \(sizes) do not add up to \(x.shape[axis])")
            }
            var start = 0
            return try sizes.map { size in
                defer { start += size }
                var components = x.shape.map { SliceComponent.range(start: 0, end: $0, step: 1) }
                components[axis] = .range(start: start, end: start + size, step: 1)
                return try node.run(.slice(components), x)
            }
        }
        table["Slice"] = { node in [try slice(node)] }
        table["Gather"] = { node in
            let data = try node.input(0), indices = try node.input(1)
            let axis = try node.axis(node.int("axis", 0), rank: data.rank)
            let positions = try checkedIndices(node, indices, size: data.shape[axis])
            // The flattened indices taken along `axis`, then the indices' shape restored.
            let gathered = try node.take(data, axis: axis, positions: positions)
            return [try node.reshape(gathered, Array(data.shape[..<axis]) + indices.shape + Array(data.shape[(axis + 1)...]))]
        }
        table["GatherElements"] = { node in
            let data = try node.input(0), indices = try node.input(1)
            let axis = try node.axis(node.int("axis", 0), rank: data.rank)
            let positions = try checkedIndices(node, indices, size: data.shape[axis])
            return [try node.run(.gather(dim: axis), data, Tensor(shape: indices.shape, scalars: positions.map(Int64.init)))]
        }
        table["ScatterElements"] = { node in
            let data = try node.input(0), indices = try node.input(1), updates = try node.input(2)
            let axis = try node.axis(node.int("axis", 0), rank: data.rank)
            let positions = try checkedIndices(node, indices, size: data.shape[axis])
            let reduction = node.string("reduction", "none")
            guard reduction == "none" || reduction == "add" else { throw node.fail("reduction \(reduction) is not supported") }
            return [try node.run(.scatter(dim: axis, accumulate: reduction == "add"), data,
                                 Tensor(shape: indices.shape, scalars: positions.map(Int64.init)), updates)]
        }
        table["Expand"] = { node in
            let x = try node.input(0)
            let target = try node.hostInts(node.input(1))
            // ONNX's Expand broadcasts both ways: the result has the broadcast of both shapes.
            let rank = Swift.max(x.rank, target.count)
            let a = Array(repeating: 1, count: rank - x.rank) + x.shape, b = Array(repeating: 1, count: rank - target.count) + target
            let shape = try zip(a, b).map { p, q -> Int in
                guard p == q || p == 1 || q == 1 else { throw node.fail("cannot expand \(x.shape) to \(target)") }
                return p == 1 ? q : p
            }
            return [try node.run(.expand(shape), node.reshape(x, a))]
        }
        table["Shape"] = { node in
            let x = try node.input(0)
            let rank = x.rank
            var start = try node.int("start", 0), end = try node.int("end", rank)
            if start < 0 { start += rank }
            if end < 0 { end += rank }
            start = Swift.min(Swift.max(start, 0), rank)
            end = Swift.min(Swift.max(end, start), rank)
            return [Tensor(x.shape[start..<end].map(Int64.init))]
        }
        table["Size"] = { node in [Tensor(Int64(try node.input(0).count))] }
        table["Constant"] = { node in
            if let tensor = try node.tensorAttribute("value") { return [tensor] }
            if node.has("value_float") { return [Tensor(Float(node.float("value_float", 0)))] }
            if node.has("value_int") { return [Tensor(Int64(try node.int("value_int")))] }
            if let values = node.ints("value_ints") { return [Tensor(values.map(Int64.init))] }
            throw node.fail("only tensor, float, int and ints values are supported")
        }
        table["ConstantOfShape"] = { node in
            let shape = try node.hostInts(node.input(0))
            guard shape.allSatisfy({ $0 >= 0 }) else { throw node.fail("bad shape \(shape)") }
            try node.checkSize(shape)
            let value = try node.tensorAttribute("value") ?? Tensor(Float(0))
            guard value.count == 1 else { throw node.fail("value must hold one element") }
            return [withNoGrad { Tensor.full(shape, value.to(.float64).scalars(as: Double.self)[0], dtype: value.dtype) }]
        }
        table["Range"] = { node in
            let start = try node.input(0), limit = try node.input(1), delta = try node.input(2)
            let (s, l, d) = try (node.hostDoubles(start, limit: 1), node.hostDoubles(limit, limit: 1), node.hostDoubles(delta, limit: 1))
            guard let s = s.first, let l = l.first, let d = d.first, d != 0, d.isFinite, s.isFinite, l.isFinite else { throw node.fail("bad range") }
            let steps = ((l - s) / d).rounded(.up)
            guard steps < Double(ONNXNode.elementLimit) else { throw node.fail("a range of \(steps) elements") }
            let count = Swift.max(0, Int(steps))
            return [withNoGrad { Tensor(shape: [count], scalars: (0..<count).map { s + Double($0) * d }).to(start.dtype) }]
        }
        table["Cast"] = { node in
            guard let dtype = dtype(onnx: try node.int("to")) else { throw node.fail("cannot cast to ONNX type \(try node.int("to"))") }
            return [try node.run(.cast(dtype), node.input(0))]
        }
        table["Tile"] = { node in
            let x = try node.input(0)
            let repeats = try node.hostInts(node.input(1))
            guard repeats.count == x.rank else { throw node.fail("\(repeats.count) repeats for rank \(x.rank)") }
            return [try node.run(.repeat(repeats), x)]
        }
        table["Pad"] = { node in
            let x = try node.input(0)
            let mode = node.string("mode", "constant")
            guard ["constant", "reflect", "edge", "wrap"].contains(mode) else { throw node.fail("pad mode \(mode) is not supported") }
            var pads = try node.opset < 11 ? (node.ints("pads") ?? []) : node.hostInts(node.input(1))
            var value = node.opset < 11 ? node.float("value", 0) : 0
            if node.opset >= 11, let constant = node.optional(2) { value = try node.hostDoubles(constant, limit: 1).first ?? 0 }
            var axes = Array(0..<x.rank)
            if node.opset >= 18, let given = node.optional(3) { axes = try node.hostInts(given).map { try node.axis($0, rank: x.rank) } }
            guard pads.count == 2 * axes.count else { throw node.fail("\(pads.count) pads for \(axes.count) axes") }
            var everyDimension = Array(repeating: 0, count: 2 * x.rank)
            for (position, axis) in axes.enumerated() {
                everyDimension[2 * axis] = pads[position]
                everyDimension[2 * axis + 1] = pads[position + axes.count]
            }
            pads = everyDimension
            guard mode != "constant" else { return [try node.run(.constantPad(pads, value: value), x)] }
            var y = x
            for axis in 0..<x.rank where pads[2 * axis] != 0 || pads[2 * axis + 1] != 0 {
                y = try borderPad(node, y, axis: axis, before: pads[2 * axis], after: pads[2 * axis + 1], mode: mode)
            }
            return [y]
        }
        table["CumSum"] = { node in
            let x = try node.input(0)
            guard let axisValue = try node.hostInts(node.input(1)).first else { throw node.fail("axis missing") }
            let axis = try node.axis(axisValue, rank: x.rank)
            let sum = try node.run(.cumulativeSum(dim: axis, reverse: node.int("reverse", 0) != 0), x)
            return [try node.int("exclusive", 0) != 0 ? node.run(.binary("sub"), sum, x) : sum]
        }
        for (name, isMax) in [("ArgMax", true), ("ArgMin", false)] {
            table[name] = { node in
                let x = try node.input(0)
                if try node.int("select_last_index", 0) != 0 { return [try lastIndex(node, max: isMax)] }
                let axis = try node.axis(node.int("axis", 0), rank: x.rank)
                return [try node.run(.argReduce(max: isMax, dim: axis, keepDim: node.int("keepdims", 1) != 0), x)]
            }
        }
        let reductions = ["ReduceSum": "sum", "ReduceMean": "mean", "ReduceMax": "amax", "ReduceMin": "amin",
                          "ReduceProd": "prod", "ReduceL2": "norm", "ReduceLogSumExp": "logsumexp"]
        for (onnx, ember) in reductions {
            table[onnx] = { node in [try reduce(node, ember)] }
        }
        table["ReduceL1"] = { node in
            [try reduce(node, "sum", input: node.run(.unary("abs"), node.input(0)))]
        }
        table["ReduceSumSquare"] = { node in
            let x = try node.input(0)
            return [try reduce(node, "sum", input: node.run(.binary("mul"), x, x))]
        }
        table["ReduceLogSum"] = { node in [try node.run(.unary("log"), reduce(node, "sum"))] }
        for (name, log) in [("Softmax", false), ("LogSoftmax", true)] {
            table[name] = { node in
                let x = try node.input(0)
                let axis = try node.axis(node.int("axis", node.opset < 13 ? 1 : -1), rank: x.rank)
                guard node.opset < 13 else { return [try node.run(.softmax(dim: axis, log: log), x)] }
                // Before opset 13 the input is seen as a matrix split at `axis`.
                let rows = x.shape[..<axis].reduce(1, *), columns = x.shape[axis...].reduce(1, *)
                let y = try node.run(.softmax(dim: 1, log: log), node.reshape(x, [rows, columns]))
                return [try node.reshape(y, x.shape)]
            }
        }
        table["Dropout"] = { node in
            let x = try node.input(0)
            guard node.proto.output.count < 2 || node.proto.output[1].isEmpty else {
                return [x, withNoGrad { Tensor.ones(x.shape, dtype: .bool) }]
            }
            return [x]
        }
        return table
    }()

    /// Padding along one axis with copies of the tensor's own elements: mirrored without the
    /// border (`reflect`), the border repeated (`edge`), or the other end (`wrap`).
    static func borderPad(_ node: ONNXNode, _ x: Tensor, axis: Int, before: Int, after: Int, mode: String) throws -> Tensor {
        let n = x.shape[axis]
        guard before >= 0, after >= 0, n > 0, mode != "reflect" || (before < n && after < n), mode != "wrap" || (before <= n && after <= n) else {
            throw node.fail("\(mode) padding of \(before) and \(after) along a dimension of \(n)")
        }
        func range(_ start: Int, _ end: Int) throws -> Tensor {
            var components = x.shape.map { SliceComponent.range(start: 0, end: $0, step: 1) }
            components[axis] = .range(start: start, end: end, step: 1)
            return try node.run(.slice(components), x)
        }
        func repeated(_ t: Tensor, _ count: Int) throws -> Tensor {
            var shape = t.shape
            shape[axis] = count
            return try node.run(.expand(shape), t)
        }
        var pieces: [Tensor] = []
        switch mode {
        case "reflect":
            if before > 0 { pieces.append(try node.run(.flip([axis]), range(1, before + 1))) }
            pieces.append(x)
            if after > 0 { pieces.append(try node.run(.flip([axis]), range(n - 1 - after, n - 1))) }
        case "edge":
            if before > 0 { pieces.append(try repeated(range(0, 1), before)) }
            pieces.append(x)
            if after > 0 { pieces.append(try repeated(range(n - 1, n), after)) }
        default:
            if before > 0 { pieces.append(try range(n - before, n)) }
            pieces.append(x)
            if after > 0 { pieces.append(try range(0, after)) }
        }
        return try node.run(.concatenate(dim: axis), pieces)
    }

    /// An index tensor's values, negative ones counted from the end, all checked to lie in
    /// 0..<size: a hostile index must not read outside the data.
    static func checkedIndices(_ node: ONNXNode, _ indices: Tensor, size: Int) throws -> [Int] {
        guard !indices.dtype.isFloatingPoint else { throw node.fail("indices must be integers, got \(indices.dtype)") }
        let values = withNoGrad { indices.to(.int64) }.scalars(as: Int64.self)
        return try values.map { value in
            let position = value < 0 ? Int(value) + size : Int(clamping: value)
            guard position >= 0 && position < size else { throw node.fail("index \(value) is out of range for size \(size)") }
            return position
        }
    }

    /// ONNX's Slice: starts, ends, axes and steps, clamped as ONNX clamps them; negative steps
    /// run on the flipped dimension.
    static func slice(_ node: ONNXNode) throws -> Tensor {
        var x = try node.input(0)
        let starts: [Int], ends: [Int], axesGiven: [Int]?, steps: [Int]?
        if node.opset < 10 {
            (starts, ends, axesGiven, steps) = (node.ints("starts") ?? [], node.ints("ends") ?? [], node.ints("axes"), nil)
        } else {
            starts = try node.hostInts(node.input(1))
            ends = try node.hostInts(node.input(2))
            axesGiven = try node.optional(3).map { try node.hostInts($0) }
            steps = try node.optional(4).map { try node.hostInts($0) }
        }
        let axes = try (axesGiven ?? Array(0..<starts.count)).map { try node.axis($0, rank: x.rank) }
        guard ends.count == starts.count, axes.count == starts.count, steps.map({ $0.count == starts.count }) ?? true,
              Set(axes).count == axes.count else { throw node.fail("inconsistent starts, ends, axes and steps") }
        var components = x.shape.map { SliceComponent.range(start: 0, end: $0, step: 1) }
        var flipped: [Int] = []
        for (position, axis) in axes.enumerated() {
            let size = x.shape[axis], step = steps?[position] ?? 1
            guard step != 0 else { throw node.fail("step 0") }
            var start = starts[position] < 0 ? starts[position] + size : starts[position]
            var end = ends[position] < 0 ? ends[position] + size : ends[position]
            if step > 0 {
                start = Swift.min(Swift.max(start, 0), size)
                end = Swift.min(Swift.max(end, 0), size)
                components[axis] = .range(start: start, end: Swift.max(start, end), step: step)
            } else {
                start = Swift.min(Swift.max(start, -1), size - 1)
                end = Swift.min(Swift.max(end, -1), size - 1)
                // On the flipped dimension, position i is n - 1 - i.
                let flippedStart = size - 1 - start, flippedEnd = size - 1 - end
                components[axis] = .range(start: flippedStart, end: Swift.max(flippedStart, flippedEnd), step: -step)
                flipped.append(axis)
            }
        }
        if !flipped.isEmpty { x = try node.run(.flip(flipped.sorted()), x) }
        return try node.run(.slice(components), x)
    }

    /// ONNX's reductions: axes as an input (ReduceSum from 13, the others from 18) or an
    /// attribute, `keepdims`, and `noop_with_empty_axes`.
    static func reduce(_ node: ONNXNode, _ name: String, input: Tensor? = nil) throws -> Tensor {
        let x = try input ?? node.input(0)
        let axesAreInput = node.proto.opType == "ReduceSum" ? node.opset >= 13 : node.opset >= 18
        let requested = try axesAreInput ? node.optional(1).map { try node.hostInts($0) } : node.ints("axes")
        let keepDim = try node.int("keepdims", 1) != 0
        let noopWithEmptyAxes = try node.int("noop_with_empty_axes", 0) != 0
        if (requested ?? []).isEmpty && noopWithEmptyAxes { return x }
        let axes = try Set((requested?.isEmpty ?? true) ? Array(0..<x.rank) : requested!.map { try node.axis($0, rank: x.rank) }).sorted()
        return try node.run(.reduce(name, axes: axes, keepDim: keepDim), x)
    }
}
