import Ember
import Foundation

// ONNX's Resize (and the older Upsample): separable along each resized axis, each output
// position a weighted sum of gathered input positions (nearest: one tap; linear: two; cubic:
// four), with the coordinate transformations ONNX defines.

extension ONNXOperators {
    static let resizeOperators: [String: ONNXOperator] = [
        "Resize": { node in [try resize(node)] },
        "Upsample": { node in [try resize(node, legacy: true)] },
    ]

    static func resize(_ node: ONNXNode, legacy: Bool = false) throws -> Tensor {
        let x = try node.input(0)
        var scales: [Double]? = nil, sizes: [Int]? = nil
        if legacy || node.opset < 11 {
            if let s = node.optional(1) { scales = try node.hostDoubles(s) } else if let s = node.proto.attribute.first(where: { $0.name == "scales" }) {
                scales = s.floats.map(Double.init)
            }
        } else {
            if let s = node.optional(2), s.count > 0 { scales = try node.hostDoubles(s) }
            if let s = node.optional(3), s.count > 0 { sizes = try node.hostInts(s) }
        }
        let axes = try (node.ints("axes") ?? Array(0..<x.rank)).map { try node.axis($0, rank: x.rank) }
        guard (scales?.count ?? sizes?.count) == axes.count else { throw node.fail("scales or sizes must give one value per axis") }
        guard node.string("keep_aspect_ratio_policy", "stretch") == "stretch", try node.int("antialias", 0) == 0 else {
            throw node.fail("keep_aspect_ratio_policy and antialias are not supported")
        }
        let mode = node.string("mode", "nearest")
        let transform = legacy || node.opset < 11 ? "asymmetric" : node.string("coordinate_transformation_mode", "half_pixel")
        let nearestMode = legacy || node.opset < 11 ? "floor" : node.string("nearest_mode", "round_prefer_floor")
        guard ["nearest", "linear", "cubic"].contains(mode),
              ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"].contains(transform) else {
            throw node.fail("mode \(mode) with coordinate_transformation_mode \(transform) is not supported")
        }
        var y = x
        for (position, axis) in axes.enumerated() {
            let length = x.shape[axis]
            let scale: Double, outLength: Int
            if let sizes {
                outLength = sizes[position]
                scale = length == 0 ? 1 : Double(outLength) / Double(length)
            } else {
                scale = scales![position]
                guard scale > 0, scale.isFinite, Double(length) * scale < Double(ONNXNode.elementLimit) else { throw node.fail("bad scale \(scale)") }
                outLength = Int((Double(length) * scale).rounded(.down))
            }
            guard outLength >= 0, length > 0 || outLength == 0 else { throw node.fail("cannot resize a dimension of \(length) to \(outLength)") }
            if outLength == length && scale == 1 { continue }
            var shape = y.shape
            shape[axis] = outLength
            try node.checkSize(shape)
            let taps = try resizeTaps(node, length: length, outLength: outLength, scale: scale, mode: mode, transform: transform,
                                      nearestMode: nearestMode, cubic: node.float("cubic_coeff_a", -0.75),
                                      excludeOutside: node.int("exclude_outside", 0) != 0)
            y = try weightedGather(node, y, axis: axis, taps: taps, outLength: outLength)
        }
        return y
    }

    /// For each output position, the input positions it reads and their weights.
    static func resizeTaps(_ node: ONNXNode, length: Int, outLength: Int, scale: Double, mode: String, transform: String,
                           nearestMode: String, cubic a: Double, excludeOutside: Bool) throws -> [[(index: Int, weight: Double)]] {
        func source(_ i: Int) -> Double {
            switch transform {
            // ONNX's reference divides by the unrounded resized length (length · scale).
            case "align_corners": return outLength > 1 ? Double(i) * Double(length - 1) / (Double(length) * scale - 1) : 0
            case "asymmetric": return Double(i) / scale
            case "pytorch_half_pixel": return outLength > 1 ? (Double(i) + 0.5) / scale - 0.5 : 0
            default: return (Double(i) + 0.5) / scale - 0.5
            }
        }
        let last = length - 1
        return (0..<outLength).map { i -> [(index: Int, weight: Double)] in
            let x = source(i)
            switch mode {
            case "nearest":
                let rounded: Double
                switch nearestMode {
                case "round_prefer_ceil": rounded = (x + 0.5).rounded(.down)
                case "floor": rounded = x.rounded(.down)
                case "ceil": rounded = x.rounded(.up)
                default: rounded = (x - 0.5).rounded(.up)   // round_prefer_floor
                }
                return [(Swift.min(Swift.max(Int(rounded), 0), last), 1)]
            case "linear":
                let clamped = Swift.min(Swift.max(x, 0), Double(last))
                let low = Int(clamped.rounded(.down)), high = Swift.min(low + 1, last), t = clamped - Double(low)
                return [(low, 1 - t), (high, t)]
            default:
                // Keys' cubic kernel with coefficient a over the four nearest positions.
                let base = x.rounded(.down), t = x - base
                func weight(_ d: Double) -> Double {
                    let d = abs(d)
                    if d <= 1 { return ((a + 2) * d - (a + 3)) * d * d + 1 }
                    if d < 2 { return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a }
                    return 0
                }
                var taps = (-1...2).map { k -> (index: Int, weight: Double, inside: Bool) in
                    let position = Int(base) + k
                    return (Swift.min(Swift.max(position, 0), last), weight(t - Double(k)), position >= 0 && position <= last)
                }
                if excludeOutside {
                    taps = taps.map { ($0.index, $0.inside ? $0.weight : 0, $0.inside) }
                    let total = taps.reduce(0) { $0 + $1.weight }
                    if total != 0 { taps = taps.map { ($0.index, $0.weight / total, $0.inside) } }
                }
                return taps.map { ($0.index, $0.weight) }
            }
        }
    }

    /// Σ_k weight_k(i) · x[index_k(i)] along `axis`, one gather per tap.
    static func weightedGather(_ node: ONNXNode, _ x: Tensor, axis: Int, taps: [[(index: Int, weight: Double)]], outLength: Int) throws -> Tensor {
        var along = Array(repeating: 1, count: x.rank)
        along[axis] = outLength
        var result: Tensor? = nil
        for k in 0..<(taps.first?.count ?? 1) {
            var gathered = try node.take(x, axis: axis, positions: taps.map { $0.isEmpty ? 0 : $0[k].index })
            let weights = taps.map { $0.isEmpty ? 0 : $0[k].weight }
            if !weights.allSatisfy({ $0 == 1 }) {
                let w = withNoGrad { Tensor(shape: along, scalars: weights).to(x.dtype.isFloatingPoint ? x.dtype : .float32) }
                gathered = try node.run(.binary("mul"), gathered, w)
            }
            result = try result.map { try node.run(.binary("add"), $0, gathered) } ?? gathered
        }
        if let result, !x.dtype.isFloatingPoint, result.dtype != x.dtype {
            return try node.run(.cast(x.dtype), node.run(.unary("round"), result))
        }
        return result ?? x
    }
}
