import Ember

// ONNX's loss operators, as Ember primitives: a gather of the target class's log-probability,
// weighted, with ignore_index, reduced as ONNX says (mean divides by the total weight).

extension ONNXOperators {
    static let lossOperators: [String: ONNXOperator] = [
        "NegativeLogLikelihoodLoss": { node in
            [try negativeLogLikelihood(node, logProbabilities: node.input(0), target: node.input(1), weight: node.optional(2))]
        },
        "SoftmaxCrossEntropyLoss": { node in
            let scores = try node.input(0)
            guard scores.rank >= 2 else { throw node.fail("scores must be [N, C, …], got \(scores.shape)") }
            let logProbabilities = try node.run(.softmax(dim: 1, log: true), scores)
            let loss = try negativeLogLikelihood(node, logProbabilities: logProbabilities, target: node.input(1), weight: node.optional(2))
            return [loss, logProbabilities]
        },
    ]

    static func negativeLogLikelihood(_ node: ONNXNode, logProbabilities x: Tensor, target: Tensor, weight: Tensor?) throws -> Tensor {
        guard x.rank >= 2, target.rank == x.rank - 1, target.shape[0] == x.shape[0], Array(target.shape.dropFirst()) == Array(x.shape.dropFirst(2)),
              !target.dtype.isFloatingPoint else {
            throw node.fail("expected input [N, C, …] and integer target [N, …], got \(x.shape) and \(target.dtype)\(target.shape)")
        }
        let classes = x.shape[1]
        let ignored = node.has("ignore_index") ? try node.int("ignore_index") : nil
        let labels = withNoGrad { target.to(.int64) }.scalars(as: Int64.self).map { Int(clamping: $0) }
        var kept: [Bool] = [], safe: [Int64] = []
        for label in labels {
            let isIgnored = label == ignored
            guard isIgnored || (label >= 0 && label < classes) else { throw node.fail("target \(label) is outside 0..<\(classes)") }
            kept.append(!isIgnored)
            safe.append(isIgnored ? 0 : Int64(label))
        }
        // -x[n, target[n, …], …], gathered along the class dimension.
        var indexShape = target.shape
        indexShape.insert(1, at: 1)
        let picked = try node.run(.gather(dim: 1), x, Tensor(shape: indexShape, scalars: safe))
        var weights = withNoGrad { Tensor(shape: target.shape, scalars: kept.map { $0 ? 1.0 : 0.0 }).to(x.dtype) }
        if let weight {
            guard weight.shape == [classes] else { throw node.fail("weight must be [\(classes)], got \(weight.shape)") }
            let perElement = try node.reshape(node.run(.gather(dim: 0), weight, Tensor(shape: [safe.count], scalars: safe)), target.shape)
            weights = try node.run(.binary("mul"), perElement, weights)
        }
        let losses = try node.run(.binary("mul"), node.run(.unary("neg"), node.reshape(picked, target.shape)), weights)
        let all = Array(0..<target.rank)
        switch node.string("reduction", "mean") {
        case "none": return losses
        case "sum": return try node.run(.reduce("sum", axes: all, keepDim: false), losses)
        case "mean":
            let total = try node.run(.reduce("sum", axes: all, keepDim: false), losses)
            return try node.run(.binary("div"), total, node.run(.reduce("sum", axes: all, keepDim: false), weights))
        case let other: throw node.fail("reduction \(other)")
        }
    }
}
