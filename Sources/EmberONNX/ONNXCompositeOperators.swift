import Ember

// Operators ONNX defines as functions of other operators, written the same way here.

extension ONNXOperators {
    static let compositeOperators: [String: ONNXOperator] = {
        var table: [String: ONNXOperator] = [:]
        table["CastLike"] = { node in [try node.run(.cast(node.input(1).dtype), node.input(0))] }
        table["Swish"] = { node in
            let x = try node.input(0)
            let scaled = try node.run(.binary("mul"), x, node.scalar(node.float("alpha", 1), x.dtype))
            return [try node.run(.binary("mul"), x, node.run(.unary("sigmoid"), scaled))]
        }
        table["Mish"] = { node in
            let x = try node.input(0)
            return [try node.run(.binary("mul"), x, node.run(.unary("tanh"), node.run(.unary("softplus", p0: 1, p1: 20), x)))]
        }
        table["Celu"] = { node in
            let x = try node.input(0), alpha = node.float("alpha", 1)
            // max(0, x) + min(0, alpha (exp(x / alpha) - 1)), which is elu(x / alpha) · alpha.
            let inner = try node.run(.unary("elu", p0: 1), node.run(.binary("div"), x, node.scalar(alpha, x.dtype)))
            return [try node.run(.binary("mul"), inner, node.scalar(alpha, x.dtype))]
        }
        table["ThresholdedRelu"] = { node in
            let x = try node.input(0)
            let above = try node.run(.compare(.gt), x, node.scalar(node.float("alpha", 1), x.dtype))
            return [try node.run(.select, above, x, node.scalar(0, x.dtype))]
        }
        table["Shrink"] = { node in
            let x = try node.input(0), lambda = node.float("lambd", 0.5), bias = node.float("bias", 0)
            let below = try node.run(.compare(.lt), x, node.scalar(-lambda, x.dtype))
            let above = try node.run(.compare(.gt), x, node.scalar(lambda, x.dtype))
            let zero = node.scalar(0, x.dtype)
            let shifted = try node.run(.select, above, node.run(.binary("sub"), x, node.scalar(bias, x.dtype)), zero)
            return [try node.run(.select, below, node.run(.binary("add"), x, node.scalar(bias, x.dtype)), shifted)]
        }
        table["IsInf"] = { node in
            let x = try node.input(0)
            let positive = try node.run(.compare(.eq), x, node.scalar(.infinity, x.dtype))
            let negative = try node.run(.compare(.eq), x, node.scalar(-.infinity, x.dtype))
            switch (try node.int("detect_positive", 1) != 0, try node.int("detect_negative", 1) != 0) {
            case (true, true): return [try node.run(.logical("logicalOr"), positive, negative)]
            case (true, false): return [positive]
            case (false, true): return [negative]
            case (false, false): return [try node.run(.logical("logicalAnd"), positive, negative)]
            }
        }
        table["Trilu"] = { node in
            let x = try node.input(0)
            guard x.rank >= 2 else { throw node.fail("expected a matrix or a batch of them, got \(x.shape)") }
            let k = try node.optional(1).map { try node.hostInts($0, limit: 1).first ?? 0 } ?? 0
            let upper = try node.int("upper", 1) != 0
            let (rows, columns) = (x.shape[x.rank - 2], x.shape[x.rank - 1])
            // A constant mask of the kept elements: column - row >= k (upper) or <= k (lower).
            let mask = (0..<rows).flatMap { r in (0..<columns).map { c in upper ? c - r >= k : c - r <= k } }
            return [try node.run(.select, Tensor(shape: [rows, columns], scalars: mask), x, node.scalar(0, x.dtype))]
        }
        table["RMSNormalization"] = { node in
            let x = try node.input(0), scale = try node.input(1)
            let axis = try node.axis(node.int("axis", -1), rank: x.rank)
            let axes = Array(axis..<x.rank)
            let meanSquare = try node.run(.reduce("mean", axes: axes, keepDim: true), node.run(.binary("mul"), x, x))
            let inverse = try node.run(.unary("rsqrt"), node.run(.binary("add"), meanSquare, node.scalar(node.float("epsilon", 1e-5), x.dtype)))
            return [try node.run(.binary("mul"), node.run(.binary("mul"), x, inverse), scale)]
        }
        table["LpNormalization"] = { node in
            let x = try node.input(0)
            let axis = try node.axis(node.int("axis", -1), rank: x.rank), p = try node.int("p", 2)
            guard p == 1 || p == 2 else { throw node.fail("p must be 1 or 2") }
            let norm = p == 2 ? try node.run(.reduce("norm", axes: [axis], keepDim: true), x)
                : try node.run(.reduce("sum", axes: [axis], keepDim: true), node.run(.unary("abs"), x))
            return [try node.run(.binary("div"), x, norm)]
        }
        table["Hardmax"] = { node in
            let x = try node.input(0)
            let axis = try node.axis(node.int("axis", -1), rank: x.rank)
            let index = try node.run(.argReduce(max: true, dim: axis, keepDim: true), x)
            let positions = Tensor.arange(0, Double(x.shape[axis]), dtype: .int64)
            var shape = Array(repeating: 1, count: x.rank)
            shape[axis] = x.shape[axis]
            let hit = try node.run(.compare(.eq), node.reshape(positions, shape), index)
            return [try node.run(.cast(x.dtype), hit)]
        }
        table["OneHot"] = { node in
            let indices = try node.input(0), depthValue = try node.hostDoubles(node.input(1), limit: 1), values = try node.input(2)
            guard let depth = depthValue.first.map({ Int($0) }), depth > 0, depth < 1 << 24, values.count == 2 else {
                throw node.fail("bad depth or values")
            }
            let rank = indices.rank + 1
            let axis = try node.axis(node.int("axis", -1), rank: rank)
            var positionShape = Array(repeating: 1, count: rank)
            positionShape[axis] = depth
            let index = try node.run(.cast(.int64), indices)
            // Negative indices count from the end.
            let wrapped = try node.run(.select, node.run(.compare(.lt), index, node.scalar(0, .int64)),
                                       node.run(.binary("add"), index, node.scalar(Double(depth), .int64)), index)
            var expandedShape = indices.shape
            expandedShape.insert(1, at: axis)
            let hit = try node.run(.compare(.eq), node.reshape(wrapped, expandedShape),
                                   node.reshape(Tensor.arange(0, Double(depth), dtype: .int64), positionShape))
            let off = try node.run(.slice([.index(0)]), values), on = try node.run(.slice([.index(1)]), values)
            return [try node.run(.select, hit, on, off)]
        }
        return table
    }()

    /// ArgMax and ArgMin with `select_last_index`: the first extreme of the flipped axis.
    static func lastIndex(_ node: ONNXNode, max: Bool) throws -> Tensor {
        let x = try node.input(0)
        let axis = try node.axis(node.int("axis", 0), rank: x.rank)
        let keepDim = try node.int("keepdims", 1) != 0
        let flippedIndex = try node.run(.argReduce(max: max, dim: axis, keepDim: keepDim), node.run(.flip([axis]), x))
        return try node.run(.binary("sub"), node.scalar(Double(x.shape[axis] - 1), .int64), flippedIndex)
    }
}
