/// One primitive operation of the graph IR, as a value: its name and typed attributes.
///
/// Every node of a ``Graph`` holds one. The eager ops record these while ``compile(backend:_:)-(_,(Tensor)->Tensor)``
/// traces a function; the passes rewrite them, the executor runs them through a ``Backend``,
/// and a saved graph stores them by ``name`` and ``attributes``. Composite operations (losses,
/// most layers) are traced as the primitives they are written in; a few hot ones (matmul,
/// softmax, layer norm, convolution) are primitives with kernels of their own.
///
///     Primitive.unary("tanh").name                     // "tanh"
///     Primitive.reduce("sum", axes: [1], keepDim: true).isPointwise   // false
public enum Primitive: Hashable, Sendable, CustomStringConvertible {
    /// A `UnaryOperation` by name, with its two parameters (clamp's bounds, softplus's beta…).
    case unary(String, p0: Double = 0, p1: Double = 0)
    /// A `BinaryOperation` by name, broadcasting its operands.
    case binary(String)
    /// `.==`, `.!=`, `.<`, `.<=`, `.>`, `.>=`: a bool result.
    case compare(Comparison)
    /// logicalAnd, logicalOr, logicalXor: the truth values of two tensors, a bool result.
    case logical(String)
    /// `Tensor.where(condition, a, b)`.
    case select
    /// A `ReductionOperation` by name over normalised, sorted `axes` (all when empty).
    case reduce(String, axes: [Int], keepDim: Bool)
    /// dtype conversion.
    case cast(DType)
    /// A contiguous copy (`clone`, `contiguous`).
    case copy
    /// The same elements with another shape (reshape, view, flatten, squeeze, unsqueeze).
    case reshape([Int])
    /// Dimensions reordered (permute, transpose, t).
    case permute([Int])
    /// Size-1 dimensions repeated by stride 0.
    case expand([Int])
    /// A strided sub-block, one component per dimension (subscripts, narrow, select, split).
    case slice([SliceComponent])
    /// Zeros of `shape` with the input written into the sub-block `components` selects (the
    /// adjoint of `slice`, PyTorch's slice_scatter into zeros).
    case sliceScatter(shape: [Int], [SliceComponent])
    /// Batched matrix product with broadcasting of the batch dimensions.
    case matmul
    /// softmax or logSoftmax along `dim`.
    case softmax(dim: Int, log: Bool)
    /// Layer normalisation over the last `normalizedRank` dims; inputs (x, weight?, bias?).
    case layerNorm(normalizedRank: Int, eps: Double, hasWeight: Bool, hasBias: Bool)
    /// Elements picked along `dim` by an int64 index tensor: (x, index) -> shape of index.
    case gather(dim: Int)
    /// A copy of x with source written (or, accumulating, added) at the index along `dim`:
    /// (x, index, source).
    case scatter(dim: Int, accumulate: Bool)
    /// Concatenation along `dim`.
    case concatenate(dim: Int)
    /// 2-D convolution: (x [N, C, H, W], weight [O, C/groups, kH, kW], bias [O]?) -> [N, O, outH, outW].
    case conv2d(ConvolutionGeometry)
    /// Its gradient with respect to the input (the transposed convolution): (gradOutput, weight).
    case conv2dInputGradient(ConvolutionGeometry)
    /// Its gradient with respect to the weight: (x, gradOutput).
    case conv2dWeightGradient(ConvolutionGeometry)

    /// 2-D max pooling of the last two dimensions of a [C, H, W] or [N, C, H, W] tensor.
    case maxPool2d(ConvolutionGeometry)
    /// Its gradient: (gradOutput, input) -> the input's shape, each gradient added at the
    /// position of its window's maximum (recomputed from the input).
    case maxPool2dBackward(ConvolutionGeometry)
    /// Average or adaptive-average pooling of planes [P, H, W] -> [P, outH, outW], or with
    /// `transpose` its adjoint [P, outH, outW] -> [P, H, W] (the gradient): one linear op.
    case averagePool2d(AveragePoolGeometry, transpose: Bool)

    /// The elements in reverse order along each of the (sorted) dims.
    case flip([Int])
    /// Constant padding: (before, after) for every dimension in order (negative crops).
    case constantPad([Int], value: Double)
    /// The running sum along `dim` (from the end when `reverse`: cumsum's gradient).
    case cumulativeSum(dim: Int, reverse: Bool)
    /// The int64 index of the first maximum (or minimum) along `dim`, or of the flattened tensor.
    case argReduce(max: Bool, dim: Int?, keepDim: Bool)
    /// The stable sorting permutation along `dim` (int64; NaN sorts as the largest value).
    case argsort(dim: Int, descending: Bool)
    /// A copy of the first input with the sub-block `components` selects replaced by the
    /// second (an in-place write into a slice, functionalised).
    case sliceAssign([SliceComponent])
    /// The running product along `dim`.
    case cumulativeProduct(dim: Int)
    /// The elements rotated by `shift` along `dim`.
    case roll(shift: Int, dim: Int)
    /// The tensor tiled `repeats[i]` times along each dimension (extra leading repeats add dimensions).
    case `repeat`([Int])
    /// One LSTM layer's whole recurrence in one direction (`FusedLSTMLayer`): from the input
    /// gates of every step [T, B, 4H] (the input projection and both biases added, PyTorch's
    /// gate order i, f, g, o), the hidden weight [4H, H] and the initial h and c [B, H], the
    /// states as one value [T + 2, B, H]: every step's h in time order, then the last h and c.
    case lstm(reverse: Bool)

    /// An op traced by its eager call, as an extern kernel: it runs in compiled code but has no
    /// graph form of its own yet, so a graph holding one cannot be saved (pooling, scans,
    /// flips, pads, interpolation, argmax, …).
    case opaque(OpaqueOperation)

    /// The comparison operators.
    public enum Comparison: String, Hashable, Sendable, CaseIterable {
        case eq, ne, lt, le, gt, ge
    }

    /// The op's name as listings, saved graphs and error messages show it.
    public var name: String {
        switch self {
        case .unary(let name, _, _), .binary(let name), .reduce(let name, _, _), .logical(let name): return name
        case .compare(let comparison): return comparison.rawValue
        case .select: return "where"
        case .cast: return "to"
        case .copy: return "copy"
        case .reshape: return "reshape"
        case .permute: return "permute"
        case .expand: return "expand"
        case .slice: return "slice"
        case .sliceScatter: return "sliceScatter"
        case .matmul: return "matmul"
        case .softmax(_, let log): return log ? "logSoftmax" : "softmax"
        case .layerNorm: return "layerNorm"
        case .concatenate: return "cat"
        case .gather: return "gather"
        case .scatter(_, let accumulate): return accumulate ? "scatterAdd" : "scatter"
        case .maxPool2d: return "maxPool2d"
        case .maxPool2dBackward: return "maxPool2dBackward"
        case .averagePool2d: return "averagePool2d"
        case .flip: return "flip"
        case .constantPad: return "pad"
        case .cumulativeSum: return "cumsum"
        case .argReduce(let max, _, _): return max ? "argmax" : "argmin"
        case .argsort: return "argsort"
        case .cumulativeProduct: return "cumprod"
        case .sliceAssign: return "sliceAssign"
        case .roll: return "roll"
        case .repeat: return "repeat"
        case .lstm: return "lstm"
        case .conv2d: return "conv2d"
        case .conv2dInputGradient: return "conv2dInputGradient"
        case .conv2dWeightGradient: return "conv2dWeightGradient"
        case .opaque(let operation): return operation.name
        }
    }

    /// The attributes as `key=value` pairs, in a fixed order (the listing and the saved graph).
    public var attributes: [(key: String, value: String)] {
        func list(_ values: [Int]) -> String { "[" + values.map(String.init).joined(separator: ", ") + "]" }
        switch self {
        case .unary(_, let p0, let p1): return p0 == 0 && p1 == 0 ? [] : [("p0", "\(p0)"), ("p1", "\(p1)")]
        case .binary, .compare, .logical, .select, .copy, .matmul: return []
        case .opaque(let operation): return operation.attributes.isEmpty ? [] : [("call", operation.attributes)]
        case .reduce(_, let axes, let keepDim): return [("axes", list(axes)), ("keepDim", "\(keepDim)")]
        case .cast(let dtype): return [("dtype", "\(dtype)")]
        case .reshape(let shape), .expand(let shape): return [("shape", list(shape))]
        case .permute(let dims): return [("dims", list(dims))]
        case .slice(let components): return [("components", SliceComponent.text(components))]
        case .sliceScatter(let shape, let components): return [("shape", list(shape)), ("components", SliceComponent.text(components))]
        case .softmax(let dim, _): return [("dim", "\(dim)")]
        case .layerNorm(let rank, let eps, let hasWeight, let hasBias):
            return [("normalizedRank", "\(rank)"), ("eps", "\(eps)"), ("hasWeight", "\(hasWeight)"), ("hasBias", "\(hasBias)")]
        case .concatenate(let dim), .gather(let dim), .scatter(let dim, _): return [("dim", "\(dim)")]
        case .conv2d(let geometry), .conv2dInputGradient(let geometry), .conv2dWeightGradient(let geometry):
            return [("geometry", list(geometry.values))]
        case .maxPool2d(let geometry), .maxPool2dBackward(let geometry): return [("geometry", list(geometry.values))]
        case .averagePool2d(let geometry, let transpose): return [("geometry", list(geometry.values)), ("transpose", "\(transpose)")]
        case .flip(let dims): return [("dims", list(dims))]
        case .constantPad(let padding, let value): return [("padding", list(padding)), ("value", "\(value)")]
        case .cumulativeSum(let dim, let reverse): return [("dim", "\(dim)"), ("reverse", "\(reverse)")]
        case .argReduce(_, let dim, let keepDim): return [("dim", dim.map(String.init) ?? "none"), ("keepDim", "\(keepDim)")]
        case .argsort(let dim, let descending): return [("dim", "\(dim)"), ("descending", "\(descending)")]
        case .cumulativeProduct(let dim): return [("dim", "\(dim)")]
        case .lstm(let reverse): return [("reverse", "\(reverse)")]
        case .sliceAssign(let components): return [("components", SliceComponent.text(components))]
        case .roll(let shift, let dim): return [("shift", "\(shift)"), ("dim", "\(dim)")]
        case .repeat(let repeats): return [("repeats", list(repeats))]
        }
    }

    public var description: String {
        let attributes = self.attributes
        return attributes.isEmpty ? name : name + "[" + attributes.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") + "]"
    }

    /// True for ops that compute each output element from the same position of their
    /// (broadcast) inputs: what elementwise fusion may put into one pass.
    public var isPointwise: Bool {
        switch self {
        case .unary, .binary, .compare, .select, .cast: return true
        default: return false
        }
    }

    /// True for ops whose output shares the input's storage (no kernel runs).
    public var isView: Bool {
        switch self {
        case .reshape, .permute, .expand, .slice: return true
        default: return false
        }
    }
}

extension SliceComponent {
    /// `start:end:step` for ranges (`end` empty when unbounded), `iN` for an index, `new`
    /// for a new axis, separated by semicolons: the form listings and saved graphs use.
    static func text(_ components: [SliceComponent]) -> String {
        components.map { component in
            switch component {
            case .range(let start, let end, let step): return "\(start):\(end == Int.max ? "" : String(end)):\(step)"
            case .index(let index): return "i\(index)"
            case .newAxis: return "new"
            }
        }.joined(separator: ";")
    }

    /// The components `text` wrote, or nil.
    static func parse(_ text: String) -> [SliceComponent]? {
        if text.isEmpty { return [] }
        var components: [SliceComponent] = []
        for part in text.split(separator: ";", omittingEmptySubsequences: false) {
            if part == "new" { components.append(.newAxis); continue }
            if part.hasPrefix("i") { guard let index = Int(part.dropFirst()) else { return nil }; components.append(.index(index)); continue }
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count == 3, let start = Int(fields[0]), let step = Int(fields[2]) else { return nil }
            let end = fields[1].isEmpty ? Int.max : Int(fields[1])
            guard let end else { return nil }
            components.append(.range(start: start, end: end, step: step))
        }
        return components.count <= 64 ? components : nil
    }
}

/// The payload of ``Primitive/opaque(_:)``: a name, the call that replays the eager op on new
/// inputs, and the types the trace saw (the op's type rule for this node). Compared by identity.
public final class OpaqueOperation: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    /// The call's arguments in words, for listings (`dims: [1]`).
    public let attributes: String
    let replay: @Sendable ([Tensor]) -> Tensor
    let inputTypes: [Primitive.ValueType]
    let outputType: Primitive.ValueType

    init(name: String, attributes: String, inputs: [Tensor], output: Tensor, replay: @escaping @Sendable ([Tensor]) -> Tensor) {
        self.name = name
        self.attributes = attributes
        self.replay = replay
        inputTypes = inputs.map { Primitive.ValueType(shape: $0.shape, dtype: $0.dtype, isWrappedNumber: $0.isWrappedNumber) }
        outputType = Primitive.ValueType(shape: output.shape, dtype: output.dtype)
    }

    public var description: String { name }
    public static func == (a: OpaqueOperation, b: OpaqueOperation) -> Bool { a === b }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

extension Tracing {
    /// Records an op without a graph form of its own as ``Primitive/opaque(_:)``, replayed by
    /// `replay` on the node's inputs.
    @inline(__always)
    static func recordOpaque(_ name: String, _ attributes: @autoclosure () -> String, _ inputs: @autoclosure () -> [Tensor],
                             replay: @escaping @Sendable ([Tensor]) -> Tensor, _ body: () -> Tensor) -> Tensor {
        guard isActive, recordingContext != nil else { return body() }
        let operands = inputs()
        return record(operands, { output in
            .opaque(OpaqueOperation(name: name, attributes: attributes(), inputs: operands, output: output, replay: replay))
        }, body)
    }
}
