/// The shape and dtype rule of every primitive: what a node's result must be, from its inputs
/// alone. A loaded graph is checked against these rules before it runs (a file cannot make an
/// op read or write outside its buffers), and the tests check them against the eager ops.
extension Primitive {
    /// What the rules know of a value: shape, dtype and how strongly it promotes.
    public struct ValueType: Equatable, Sendable, CustomStringConvertible {
        public var shape: [Int]
        public var dtype: DType
        /// A Swift scalar in `x * 2` (PyTorch's wrapped number) promotes weakest.
        public var isWrappedNumber = false

        public init(shape: [Int], dtype: DType, isWrappedNumber: Bool = false) {
            self.shape = shape
            self.dtype = dtype
            self.isWrappedNumber = isWrappedNumber
        }

        public var description: String { "\(dtype)\(shape)" }

        var priority: PromotionPriority {
            isWrappedNumber ? .wrappedNumber : (shape.isEmpty ? .zeroDimensional : .dimensioned)
        }
    }

    /// The result of this primitive on `inputs`, or nil when the inputs are not valid for it.
    ///
    ///     Primitive.matmul.resultType([.init(shape: [2, 3], dtype: .float32),
    ///                                  .init(shape: [3, 4], dtype: .float32)])   // float32[2, 4]
    public func resultType(_ inputs: [ValueType]) -> ValueType? {
        guard arity.contains(inputs.count) else { return nil }
        let first = inputs[0]
        let rank = first.shape.count
        func result(_ shape: [Int], _ dtype: DType) -> ValueType { ValueType(shape: shape, dtype: dtype) }
        switch self {
        case .unary(let name, _, _):
            guard let operation = UnaryOperation.all.first(where: { $0.name == name }) else { return nil }
            var dtype = first.dtype
            if dtype == .bool && operation.keepsIntegerType && name != "sign" && name != "relu" { return nil }
            if dtype.isIntegral && !operation.keepsIntegerType { dtype = DType.defaultFloat }
            return result(first.shape, dtype)
        case .binary(let name):
            guard let operation = BinaryOperation.all.first(where: { $0.name == name }),
                  let shape = Primitive.broadcast(first.shape, inputs[1].shape) else { return nil }
            var dtype = Primitive.promote(first, inputs[1])
            if operation.promotesIntegersToFloat && dtype.isIntegral { dtype = DType.defaultFloat }
            if dtype == .bool && !operation.allowsBool { return nil }
            return result(shape, dtype)
        case .compare, .logical:
            guard let shape = Primitive.broadcast(first.shape, inputs[1].shape) else { return nil }
            return result(shape, .bool)
        case .select:
            guard first.dtype == .bool, let ab = Primitive.broadcast(inputs[1].shape, inputs[2].shape),
                  let shape = Primitive.broadcast(first.shape, ab) else { return nil }
            return result(shape, Primitive.promote(inputs[1], inputs[2]))
        case .reduce(let name, let axes, let keepDim):
            guard let operation = ReductionOperation.all.first(where: { $0.name == name }),
                  axes.allSatisfy({ $0 >= 0 && $0 < rank }), axes == Array(Set(axes)).sorted(),
                  let dtype = operation.resultType(for: first.dtype) else { return nil }
            let reduced = axes.isEmpty ? Set(0..<rank) : Set(axes)
            // max and min have no identity: an empty reduced dimension has no answer.
            if !operation.hasIdentity && reduced.contains(where: { first.shape[$0] == 0 }) { return nil }
            let shape = keepDim ? first.shape.enumerated().map { reduced.contains($0.offset) ? 1 : $0.element }
                : first.shape.enumerated().filter { !reduced.contains($0.offset) }.map(\.element)
            return result(rank == 0 ? [] : shape, dtype)
        case .opaque(let operation):
            let types = inputs.map { Primitive.ValueType(shape: $0.shape, dtype: $0.dtype) }
            return types == operation.inputTypes.map { Primitive.ValueType(shape: $0.shape, dtype: $0.dtype) } ? operation.outputType : nil
        case .cast(let dtype): return result(first.shape, dtype)
        case .copy: return result(first.shape, first.dtype)
        case .reshape(let shape):
            guard shape.allSatisfy({ $0 >= 0 }), let count = CheckedSize.product(shape), count == first.shape.reduce(1, *) else { return nil }
            return result(shape, first.dtype)
        case .permute(let dims):
            guard dims.sorted() == Array(0..<rank) else { return nil }
            return result(dims.map { first.shape[$0] }, first.dtype)
        case .expand(let shape):
            guard shape.count >= rank else { return nil }
            let pad = shape.count - rank
            for i in 0..<rank where !(first.shape[i] == shape[i + pad] || first.shape[i] == 1) { return nil }
            guard shape.allSatisfy({ $0 >= 0 }), CheckedSize.product(shape) != nil else { return nil }
            return result(shape, first.dtype)
        case .slice(let components):
            guard let shape = Primitive.subscriptShape(first.shape, components) else { return nil }
            return result(shape, first.dtype)
        case .sliceScatter(let shape, let components):
            guard shape.allSatisfy({ $0 >= 0 }), Primitive.subscriptShape(shape, components) == first.shape else { return nil }
            return result(shape, first.dtype)
        case .matmul:
            let second = inputs[1]
            guard rank >= 2, second.shape.count >= 2, first.dtype == second.dtype, first.dtype != .bool,
                  first.shape[rank - 1] == second.shape[second.shape.count - 2],
                  let batch = Primitive.broadcast(Array(first.shape.dropLast(2)), Array(second.shape.dropLast(2))) else { return nil }
            return result(batch + [first.shape[rank - 2], second.shape[second.shape.count - 1]], first.dtype)
        case .softmax(let dim, _):
            guard first.dtype.isFloatingPoint, dim >= 0 && dim < Swift.max(rank, 1) else { return nil }
            return result(first.shape, first.dtype)
        case .layerNorm(let normalizedRank, _, _, _):
            guard first.dtype.isFloatingPoint, normalizedRank >= 1, rank >= normalizedRank else { return nil }
            let trailing = Array(first.shape.suffix(normalizedRank))
            for affine in inputs.dropFirst() where affine.shape != trailing || affine.dtype != first.dtype { return nil }
            return result(first.shape, first.dtype)
        case .gather(let dim):
            let index = inputs[1]
            guard dim >= 0 && dim < Swift.max(rank, 1), index.dtype == .int64 || index.dtype == .int32,
                  index.shape.count == rank else { return nil }
            for d in 0..<rank where d != dim && index.shape[d] > first.shape[d] { return nil }
            return result(index.shape, first.dtype)
        case .scatter(let dim, _):
            let index = inputs[1], source = inputs[2]
            guard dim >= 0 && dim < Swift.max(rank, 1), index.dtype == .int64 || index.dtype == .int32,
                  index.shape.count == rank, source.shape.count == rank, source.dtype == first.dtype else { return nil }
            for d in 0..<rank where index.shape[d] > source.shape[d] || (d != dim && index.shape[d] > first.shape[d]) { return nil }
            return result(first.shape, first.dtype)
        case .concatenate(let dim):
            guard rank > 0, dim >= 0 && dim < rank else { return nil }
            var shape = first.shape
            var dtype = first.dtype
            for other in inputs.dropFirst() {
                guard other.shape.count == rank else { return nil }
                for d in 0..<rank where d != dim && other.shape[d] != first.shape[d] { return nil }
                shape[dim] += other.shape[dim]
                dtype = DType.promote(dtype, other.dtype)
            }
            return result(shape, dtype)
        case .flip(let dims):
            guard dims == dims.sorted(), Set(dims).count == dims.count, dims.allSatisfy({ $0 >= 0 && $0 < Swift.max(rank, 1) }) else { return nil }
            return result(first.shape, first.dtype)
        case .constantPad(let padding, _):
            guard padding.count == 2 * rank, padding.allSatisfy({ $0 > -(1 << 40) && $0 < 1 << 40 }) else { return nil }
            let shape = first.shape.indices.map { first.shape[$0] + padding[2 * $0] + padding[2 * $0 + 1] }
            guard shape.allSatisfy({ $0 >= 0 }), CheckedSize.product(shape) != nil else { return nil }
            return result(shape, first.dtype)
        case .cumulativeSum(let dim, _):
            guard dim >= 0 && dim < Swift.max(rank, 1) else { return nil }
            return result(first.shape, first.dtype.isFloatingPoint ? first.dtype : .int64)
        case .argReduce(_, let dim, let keepDim):
            guard first.dtype != .bool else { return nil }
            guard let dim else {
                guard first.shape.reduce(1, *) > 0 else { return nil }
                return result(keepDim ? [Int](repeating: 1, count: rank) : [], .int64)
            }
            guard dim >= 0 && dim < Swift.max(rank, 1), rank == 0 || first.shape[dim] > 0 else { return nil }
            var shape = first.shape
            if rank > 0 { if keepDim { shape[dim] = 1 } else { shape.remove(at: dim) } }
            return result(shape, .int64)
        case .sliceAssign(let components):
            guard inputs[1].dtype == first.dtype, Primitive.subscriptShape(first.shape, components) == inputs[1].shape else { return nil }
            return result(first.shape, first.dtype)
        case .lstm:
            let (gates, weight, h0, c0) = (inputs[0], inputs[1], inputs[2], inputs[3])
            guard first.dtype == .float32 || first.dtype == .float64, [weight, h0, c0].allSatisfy({ $0.dtype == first.dtype }),
                  gates.shape.count == 3, gates.shape[0] >= 1, h0.shape.count == 2 else { return nil }
            let (steps, batch, hidden) = (gates.shape[0], gates.shape[1], h0.shape[1])
            guard hidden >= 1, gates.shape[2] == 4 * hidden, weight.shape == [4 * hidden, hidden],
                  h0.shape == [batch, hidden], c0.shape == [batch, hidden] else { return nil }
            return result([steps + 2, batch, hidden], first.dtype)
        case .cumulativeProduct(let dim):
            guard dim >= 0 && dim < Swift.max(rank, 1) else { return nil }
            return result(first.shape, first.dtype.isFloatingPoint ? first.dtype : .int64)
        case .roll(_, let dim):
            guard rank > 0, dim >= 0 && dim < rank else { return nil }
            return result(first.shape, first.dtype)
        case .repeat(let repeats):
            guard repeats.count >= rank, repeats.allSatisfy({ $0 >= 0 }) else { return nil }
            let padded = [Int](repeating: 1, count: repeats.count - rank) + first.shape
            let shape = zip(repeats, padded).map { $0.multipliedReportingOverflow(by: $1) }
            guard shape.allSatisfy({ !$0.overflow && $0.partialValue < 1 << 40 }) else { return nil }
            return result(shape.map(\.partialValue), first.dtype)
        case .argsort(let dim, _):
            guard dim >= 0 && dim < Swift.max(rank, 1) else { return nil }
            return result(first.shape, .int64)
        case .maxPool2d(let g):
            guard rank == 3 || rank == 4, first.dtype.isFloatingPoint, g.poolingCeilMode(maxPadding: true) != nil,
                  first.shape[rank - 2] == g.inHeight, first.shape[rank - 1] == g.inWidth else { return nil }
            return result(first.shape.dropLast(2) + [g.outHeight, g.outWidth], first.dtype)
        case .maxPool2dBackward(let g):
            let input = inputs[1]
            guard rank == 3 || rank == 4, input.shape.count == rank, first.dtype.isFloatingPoint, input.dtype == first.dtype,
                  g.poolingCeilMode(maxPadding: true) != nil, first.shape.dropLast(2) == input.shape.dropLast(2),
                  first.shape.suffix(2) == [g.outHeight, g.outWidth], input.shape.suffix(2) == [g.inHeight, g.inWidth] else { return nil }
            return result(input.shape, first.dtype)
        case .averagePool2d(let g, let transpose):
            let w = g.window
            let (from, to) = transpose ? ([w.outHeight, w.outWidth], [w.inHeight, w.inWidth]) : ([w.inHeight, w.inWidth], [w.outHeight, w.outWidth])
            guard rank == 3, first.dtype.isFloatingPoint, g.isConsistent, Array(first.shape.suffix(2)) == from else { return nil }
            return result([first.shape[0]] + to, first.dtype)
        case .conv2d(let g):
            let weight = inputs[1]
            guard g.isConsistent, rank == 4, weight.shape.count == 4, first.dtype.isFloatingPoint, weight.dtype == first.dtype,
                  first.shape[2] == g.inHeight, first.shape[3] == g.inWidth, weight.shape[2] == g.kernelHeight,
                  weight.shape[3] == g.kernelWidth, first.shape[1] == weight.shape[1] * g.groups, weight.shape[0] % g.groups == 0 else { return nil }
            if inputs.count == 3 && (inputs[2].shape != [weight.shape[0]] || inputs[2].dtype != first.dtype) { return nil }
            return result([first.shape[0], weight.shape[0], g.outHeight, g.outWidth], first.dtype)
        case .conv2dInputGradient(let g):
            let weight = inputs[1]
            guard g.isConsistent, rank == 4, weight.shape.count == 4, first.dtype.isFloatingPoint, weight.dtype == first.dtype,
                  first.shape[1] == weight.shape[0], first.shape[2] == g.outHeight, first.shape[3] == g.outWidth,
                  weight.shape[2] == g.kernelHeight, weight.shape[3] == g.kernelWidth, weight.shape[0] % g.groups == 0 else { return nil }
            return result([first.shape[0], weight.shape[1] * g.groups, g.inHeight, g.inWidth], first.dtype)
        case .conv2dWeightGradient(let g):
            let gradient = inputs[1]
            guard g.isConsistent, rank == 4, gradient.shape.count == 4, first.dtype.isFloatingPoint, gradient.dtype == first.dtype,
                  first.shape[0] == gradient.shape[0], first.shape[2] == g.inHeight, first.shape[3] == g.inWidth,
                  gradient.shape[2] == g.outHeight, gradient.shape[3] == g.outWidth,
                  first.shape[1] % g.groups == 0, gradient.shape[1] % g.groups == 0 else { return nil }
            return result([gradient.shape[1], first.shape[1] / g.groups, g.kernelHeight, g.kernelWidth], first.dtype)
        }
    }

    /// The shape `components` select from `shape` (as `Tensor.slicedLayout` computes it).
    static func subscriptShape(_ shape: [Int], _ components: [SliceComponent]) -> [Int]? {
        var result: [Int] = []
        var dim = 0
        for component in components {
            switch component {
            case .newAxis: result.append(1)
            case .index(let index):
                guard dim < shape.count, index >= 0 && index < shape[dim] else { return nil }
                dim += 1
            case .range(let start, let end, let step):
                guard dim < shape.count, start >= 0, step >= 1 else { return nil }
                let stop = Swift.min(end, shape[dim])
                result.append(stop > start ? (stop - start + step - 1) / step : 0)
                dim += 1
            }
        }
        return dim == shape.count ? result : nil
    }

    static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = Swift.max(a.count, b.count)
        var shape = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let x = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let y = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            guard x == y || x == 1 || y == 1 else { return nil }
            shape[i] = x == 1 ? y : x
        }
        return shape
    }

    /// PyTorch's result_type for two values (mirrors `DType.resultType` on tensors).
    static func promote(_ a: ValueType, _ b: ValueType) -> DType {
        let pa = a.priority, pb = b.priority
        if pa == pb { return DType.promote(a.dtype, b.dtype) }
        let (strong, weak) = pa.rawValue > pb.rawValue ? (a, b) : (b, a)
        if weak.dtype.category <= strong.dtype.category { return strong.dtype }
        if weak.isWrappedNumber { return weak.dtype.isFloatingPoint ? DType.defaultFloat : .int64 }
        return weak.dtype
    }
}

extension Graph {
    /// The rule-derived type of each node's result, checked against the declared one; the
    /// first node that breaks its rule, with what it expected.
    public func typeCheck() -> String? {
        for (index, node) in nodes.enumerated() {
            let inputs = node.inputs.map { value -> Primitive.ValueType in
                let info = values[value]
                var type = Primitive.ValueType(shape: info.shape, dtype: info.dtype)
                if case .constant(let tensor) = info.source { type.isWrappedNumber = tensor.isWrappedNumber }
                return type
            }
            let declared = Primitive.ValueType(shape: values[node.output].shape, dtype: values[node.output].dtype)
            guard let inferred = node.primitive.resultType(inputs) else {
                return "node \(index) (\(node.primitive)) cannot take inputs \(inputs)"
            }
            if inferred != declared { return "node \(index) (\(node.primitive)) gives \(inferred), but the graph says \(declared)" }
        }
        return nil
    }
}
