import Ember

/// How an ONNX operator runs: from a node (inputs and attributes) to its outputs.
typealias ONNXOperator = @Sendable (ONNXNode) throws -> [Tensor]

/// The ONNX operators Ember runs, by name (default domain), each written with Ember primitives
/// so that imported models run with autograd (fine-tuning) and trace under `compile`.
enum ONNXOperators {
    static let table: [String: ONNXOperator] = {
        var table: [String: ONNXOperator] = [:]
        for (name, op) in elementwise { table[name] = op }
        for (name, op) in tensorOperators { table[name] = op }
        for (name, op) in networkOperators { table[name] = op }
        for (name, op) in compositeOperators { table[name] = op }
        for (name, op) in resizeOperators { table[name] = op }
        for (name, op) in lossOperators { table[name] = op }
        for (name, op) in recurrentOperators { table[name] = op }
        return table
    }()

    // MARK: Elementwise

    static let elementwise: [String: ONNXOperator] = {
        var table: [String: ONNXOperator] = [:]
        let unary = ["Neg": "neg", "Abs": "abs", "Exp": "exp", "Log": "log", "Sqrt": "sqrt", "Reciprocal": "reciprocal",
                     "Sin": "sin", "Cos": "cos", "Tan": "tan", "Tanh": "tanh", "Sigmoid": "sigmoid", "Relu": "relu",
                     "Erf": "erf", "Floor": "floor", "Ceil": "ceil", "Round": "round", "Sign": "sign"]
        for (onnx, ember) in unary {
            table[onnx] = { node in [try node.run(.unary(ember), node.input(0))] }
        }
        table["Softplus"] = { node in [try node.run(.unary("softplus", p0: 1, p1: 20), node.input(0))] }
        table["LeakyRelu"] = { node in [try node.run(.unary("leakyRelu", p0: node.float("alpha", 0.01)), node.input(0))] }
        table["Elu"] = { node in [try node.run(.unary("elu", p0: node.float("alpha", 1)), node.input(0))] }
        table["Gelu"] = { node in
            [try node.run(.unary(node.string("approximate", "none") == "tanh" ? "geluTanh" : "gelu"), node.input(0))]
        }
        table["Identity"] = { node in [try node.input(0)] }
        table["Softsign"] = { node in
            let x = try node.input(0)
            return [try node.run(.binary("div"), x, node.run(.binary("add"), node.run(.unary("abs"), x), node.scalar(1, x.dtype)))]
        }
        table["HardSigmoid"] = { node in
            let x = try node.input(0)
            let affine = try node.run(.binary("add"), node.run(.binary("mul"), x, node.scalar(node.float("alpha", 0.2), x.dtype)),
                                      node.scalar(node.float("beta", 0.5), x.dtype))
            return [try node.run(.unary("clamp", p0: 0, p1: 1), affine)]
        }
        table["HardSwish"] = { node in
            let x = try node.input(0)
            let gate = try node.run(.unary("clamp", p0: 0, p1: 1),
                                    node.run(.binary("add"), node.run(.binary("mul"), x, node.scalar(1.0 / 6, x.dtype)), node.scalar(0.5, x.dtype)))
            return [try node.run(.binary("mul"), x, gate)]
        }
        table["Selu"] = { node in
            let x = try node.input(0)
            let alpha = node.float("alpha", 1.67326319217681884765625), gamma = node.float("gamma", 1.05070102214813232421875)
            return [try node.run(.binary("mul"), node.run(.unary("elu", p0: alpha), x), node.scalar(gamma, x.dtype))]
        }
        table["PRelu"] = { node in
            let x = try node.input(0)
            var slope = try node.input(1)
            // Before opset 7 a 1-D slope was per channel (dimension 1), not numpy-broadcast.
            if slope.rank == 1 && x.rank > 2 && slope.count == x.shape[1] && slope.count != x.shape.last {
                slope = try node.reshape(slope, [slope.count] + Array(repeating: 1, count: x.rank - 2))
            }
            let negative = try node.run(.compare(.lt), x, node.scalar(0, x.dtype))
            return [try node.run(.select, negative, node.run(.binary("mul"), x, slope), x)]
        }
        table["Clip"] = { node in
            let x = try node.input(0)
            var low = -Double.infinity, high = Double.infinity
            if node.opset < 11 {
                (low, high) = (node.float("min", -.infinity), node.float("max", .infinity))
            } else {
                if let min = node.optional(1) { low = try node.hostDoubles(min, limit: 1).first ?? low }
                if let max = node.optional(2) { high = try node.hostDoubles(max, limit: 1).first ?? high }
            }
            return [try node.run(.unary("clamp", p0: low, p1: high), x)]
        }
        let binary = ["Add": "add", "Sub": "sub", "Mul": "mul", "Pow": "pow"]
        for (onnx, ember) in binary {
            table[onnx] = { node in [try node.run(.binary(ember), node.input(0), node.input(1))] }
        }
        table["Div"] = { node in
            let a = try node.input(0), b = try node.input(1)
            guard !a.dtype.isFloatingPoint else { return [try node.run(.binary("div"), a, b)] }
            // Integer division truncates in ONNX: the floor, plus one where the signs differ and
            // the division is inexact.
            let floor = try node.run(.binary("floorDivide"), a, b)
            let inexact = try node.run(.compare(.ne), node.run(.binary("remainder"), a, b), node.scalar(0, a.dtype))
            let signsDiffer = try node.run(.logical("logicalXor"), node.run(.compare(.lt), a, node.scalar(0, a.dtype)),
                                           node.run(.compare(.lt), b, node.scalar(0, b.dtype)))
            let adjust = try node.run(.logical("logicalAnd"), inexact, signsDiffer)
            return [try node.run(.select, adjust, node.run(.binary("add"), floor, node.scalar(1, a.dtype)), floor)]
        }
        table["Mod"] = { node in
            let a = try node.input(0), b = try node.input(1)
            guard try node.int("fmod", 0) == 1 else { return [try node.run(.binary("remainder"), a, b)] }
            // C's fmod: the sign of the dividend.
            let r = try node.run(.binary("remainder"), a, b)
            let fix = try node.run(.logical("logicalAnd"), node.run(.compare(.ne), r, node.scalar(0, a.dtype)),
                                   node.run(.logical("logicalXor"), node.run(.compare(.lt), a, node.scalar(0, a.dtype)),
                                            node.run(.compare(.lt), b, node.scalar(0, b.dtype))))
            return [try node.run(.select, fix, node.run(.binary("sub"), r, b), r)]
        }
        for (onnx, ember) in ["Max": "maximum", "Min": "minimum", "Sum": "add"] {
            table[onnx] = { node in
                let operands = node.inputs.compactMap { $0 }
                guard var result = operands.first else { throw node.fail("needs at least one input") }
                for operand in operands.dropFirst() { result = try node.run(.binary(ember), result, operand) }
                return [result]
            }
        }
        table["Mean"] = { node in
            let operands = node.inputs.compactMap { $0 }
            guard var result = operands.first else { throw node.fail("needs at least one input") }
            for operand in operands.dropFirst() { result = try node.run(.binary("add"), result, operand) }
            return [try node.run(.binary("div"), result, node.scalar(Double(operands.count), result.dtype))]
        }
        let comparisons: [String: Primitive.Comparison] = ["Equal": .eq, "Less": .lt, "LessOrEqual": .le, "Greater": .gt,
                                                           "GreaterOrEqual": .ge]
        for (onnx, comparison) in comparisons {
            table[onnx] = { node in [try node.run(.compare(comparison), node.input(0), node.input(1))] }
        }
        for (onnx, ember) in ["And": "logicalAnd", "Or": "logicalOr", "Xor": "logicalXor"] {
            table[onnx] = { node in [try node.run(.logical(ember), node.input(0), node.input(1))] }
        }
        table["Not"] = { node in [try node.run(.compare(.eq), node.input(0), node.scalar(0, .bool))] }
        table["Where"] = { node in [try node.run(.select, node.input(0), node.input(1), node.input(2))] }
        table["IsNaN"] = { node in let x = try node.input(0); return [try node.run(.compare(.ne), x, x)] }
        return table
    }()
}
