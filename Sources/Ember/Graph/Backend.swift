import CEmberKernels
import EmberKernels

/// Where a graph's primitives run. The CPU backend runs each primitive with Ember's kernels;
/// an accelerator backend conforms to the same protocol and receives the same primitives,
/// fused groups included.
///
///     let f = compile({ (x: Tensor) in x.exp() }, backend: CPUBackend())
public protocol Backend: Sendable {
    /// A short name for listings and errors ("cpu").
    var name: String { get }
    /// Runs one primitive on its inputs. `output`, when given, is a planned buffer of the
    /// node's shape and dtype that the result may be written into; a backend that cannot
    /// write there returns a tensor of its own.
    func run(_ primitive: Primitive, inputs: [Tensor], output: Tensor?) -> Tensor
    /// Runs a fused group of pointwise nodes in one pass over memory, writing each of the
    /// group's outputs into `outputs` (contiguous, shaped like the group).
    func runFused(_ program: FusedProgram, inputs: [Tensor], outputs: [Tensor])
    /// `run` for a node whose plan keeps `state` for it between calls: what the backend may
    /// cache there (packed weights, compiled kernels) is its own. The plan gives state only to
    /// nodes whose cached forms it knows to stay valid (a matmul by a captured weight, checked
    /// against the weight's version by the backend).
    func run(_ primitive: Primitive, inputs: [Tensor], output: Tensor?, state: BackendNodeState) -> Tensor
    /// A matmul `a · b` by a matrix (`a` [..., n, k], `b` [k, m]) into `product` followed by a fused group that reads the product
    /// (`inputs` holds `product` itself where the group reads it): the backend may run the group
    /// on each block of the product as the block is finished (epilogue fusion).
    func runMatmulEpilogue(_ a: Tensor, _ b: Tensor, product: Tensor, state: BackendNodeState?,
                           program: FusedProgram, inputs: [Tensor], outputs: [Tensor])
    /// `.conv2d(geometry)` of `operands` into `product`, with the fused group that alone reads
    /// it (`inputs` holds `product` itself) writing `outputs`.
    func runConvolutionEpilogue(_ operands: [Tensor], geometry: ConvolutionGeometry, product: Tensor,
                                program: FusedProgram, inputs: [Tensor], outputs: [Tensor])
}

extension Backend {
    public func run(_ primitive: Primitive, inputs: [Tensor], output: Tensor?, state: BackendNodeState) -> Tensor {
        run(primitive, inputs: inputs, output: output)
    }

    /// The convolution, then the group: for backends without epilogues.
    public func runConvolutionEpilogue(_ operands: [Tensor], geometry: ConvolutionGeometry, product: Tensor,
                                       program: FusedProgram, inputs: [Tensor], outputs: [Tensor]) {
        let result = run(.conv2d(geometry), inputs: operands, output: product)
        runFused(program, inputs: inputs.map { $0 === product ? result : $0 }, outputs: outputs)
    }

    /// The product, then the group: for backends without epilogues.
    public func runMatmulEpilogue(_ a: Tensor, _ b: Tensor, product: Tensor, state: BackendNodeState?,
                                  program: FusedProgram, inputs: [Tensor], outputs: [Tensor]) {
        let result = state.map { run(.matmul, inputs: [a, b], output: product, state: $0) } ?? run(.matmul, inputs: [a, b], output: product)
        runFused(program, inputs: inputs.map { $0 === product ? result : $0 }, outputs: outputs)
    }
}

/// What a backend keeps for one node of an execution plan between calls.
public final class BackendNodeState: @unchecked Sendable {
    /// The backend's own value; only the plan's exclusive calls touch it (one at a time).
    public var value: AnyObject?
    public init() {}
}

/// The CPU backend's state for a matmul by a weight: B's packed panels and the version of the
/// weight they were packed from.
final class PackedWeight {
    let panels = PackedPanels()
    var storage: TensorStorage?
    var version = -1
    var layout: Layout?
}

/// The CPU backend: each primitive calls the eager op that records it (with grad mode off and
/// tracing suppressed), and the ops with planned buffers (matmul, layer norm, softmax over
/// the last dim, fused groups) write straight into them.
public struct CPUBackend: Backend {
    public init() {}
    public var name: String { "cpu" }

    public func run(_ primitive: Primitive, inputs: [Tensor], output: Tensor?) -> Tensor {
        switch primitive {
        case .unary(let name, let p0, let p1):
            return inputs[0].apply(CPUBackend.unary(name), parameters: (p0, p1))
        case .binary(let name):
            return inputs[0].apply(CPUBackend.binary(name), inputs[1])
        case .compare(let comparison):
            return inputs[0].compare(comparison.kernel, inputs[1], name: comparison.rawValue)
        case .logical(let name):
            guard let kernel = CPUBackend.logicalKernels[name] else { emberFailure("graph: unknown logical operation '\(name)'") }
            return inputs[0].logical(kernel, inputs[1], name: name)
        case .select:
            return Tensor.where(inputs[0], inputs[1], inputs[2])
        case .reduce(let name, let axes, let keepDim):
            if let output, let kernel = CPUBackend.plannedReduction(name, input: inputs[0], output: output) {
                return inputs[0].reduced(kernel, axes: axes, keepDim: keepDim, into: output)
            }
            return inputs[0].reduce(CPUBackend.reduction(name), dims: axes, keepDim: keepDim)
        case .cast(let dtype):
            if let output, output.dtype == dtype, output.isContiguous {
                CopyKernel.copy(from: inputs[0], into: output)
                return output
            }
            return inputs[0].to(dtype)
        case .copy: return inputs[0].contiguousCopy()
        case .reshape(let shape): return inputs[0].reshaped(shape)
        case .permute(let dims): return inputs[0].permuted(dims)
        case .expand(let shape): return inputs[0].expanded(to: shape)
        case .slice(let components): return inputs[0].sliced(components)
        case .sliceScatter(let shape, let components):
            return Tensor.embedding(inputs[0], intoZerosOf: shape, dtype: inputs[0].dtype, at: components)
        case .matmul:
            if let output, CPUBackend.isLinear(inputs[0], inputs[1]), inputs[0].dtype == output.dtype {
                MatrixProductKernel.run(inputs[0], inputs[1], into: output, batchShape: Array(inputs[0].shape.dropLast(2)))
                return output
            }
            if let output, let batchShape = CPUBackend.batchedProduct(inputs[0], inputs[1], output) {
                MatrixProductKernel.run(inputs[0], inputs[1], into: output, batchShape: batchShape)
                return output
            }
            return Tensor.matrixProduct(inputs[0], inputs[1], op: "matmul")
        case .softmax(let dim, let log):
            if let output, inputs[0].softmax(log: log, axis: dim, into: output) { return output }
            return log ? inputs[0].logSoftmax(dim: dim) : inputs[0].softmax(dim: dim)
        case .layerNorm(let rank, let eps, let hasWeight, let hasBias):
            let x = inputs[0]
            let weight = hasWeight ? inputs[1] : nil
            let bias = hasBias ? inputs[hasWeight ? 2 : 1] : nil
            if let result = LayerNormKernel.run(x, normalizedRank: rank, weight: weight, bias: bias, eps: eps, into: output) {
                return result
            }
            return Functional.layerNorm(x, normalizedShape: Array(x.shape.suffix(rank)), weight: weight, bias: bias, eps: eps)
        case .concatenate(let dim): return Tensor.cat(inputs, dim: dim)
        case .opaque(let operation): return operation.replay(inputs)
        case .gather(let dim):
            if let output, output.dtype == inputs[0].dtype {
                IndexKernel.gather(inputs[0], axis: dim, index: inputs[1], into: output, op: "gather")
                return output
            }
            return inputs[0].gather(dim: dim, index: inputs[1])
        case .scatter(let dim, let accumulate):
            if let output, output.dtype == inputs[0].dtype, output.dtype == inputs[2].dtype {
                CopyKernel.copy(from: inputs[0], into: output)
                if accumulate {
                    IndexKernel.scatterAdd(inputs[2], axis: dim, index: inputs[1], into: output, op: "scatterAdd")
                } else {
                    IndexKernel.scatter(inputs[2], axis: dim, index: inputs[1], into: output, op: "scatter")
                }
                return output
            }
            return accumulate ? inputs[0].scatterAdd(dim: dim, index: inputs[1], source: inputs[2])
                : inputs[0].scatter(dim: dim, index: inputs[1], source: inputs[2])
        case .flip(let dims): return inputs[0].flip(dims: dims)
        case .constantPad(let padding, let value): return inputs[0].constantPadded(everyDimension: padding, value: value)
        case .cumulativeSum(let dim, let reverse): return reverse ? inputs[0].reverseCumsum(axis: dim) : inputs[0].cumsum(dim: dim)
        case .argsort(let dim, let descending): return inputs[0].argsort(dim: dim, descending: descending)
        case .cumulativeProduct(let dim): return inputs[0].cumprod(dim: dim)
        case .lstm(let reverse):
            return FusedLSTMLayer.packed(inputGates: inputs[0], hiddenWeight: inputs[1], h0: inputs[2], c0: inputs[3], reverse: reverse)
        case .sliceAssign(let components):
            let result = inputs[0].contiguousCopy()
            CopyKernel.copy(from: inputs[1], into: result.sliced(components))
            return result
        case .roll(let shift, let dim): return inputs[0].rolled(by: shift, along: dim)
        case .repeat(let repeats): return inputs[0].repeated(repeats)
        case .argReduce(let max, let dim, let keepDim):
            return max ? inputs[0].argmax(dim: dim, keepDim: keepDim) : inputs[0].argmin(dim: dim, keepDim: keepDim)
        case .maxPool2d(let g):
            return Functional.maxPool2d(inputs[0], kernelSize: [g.kernelHeight, g.kernelWidth], stride: [g.strideH, g.strideW],
                                        padding: [g.padH, g.padW], dilation: [g.dilationH, g.dilationW], ceilMode: g.poolingCeilMode(maxPadding: true)!)
        case .maxPool2dBackward(let g):
            return Tensor.maxPool2dBackward(inputs[0], input: inputs[1], geometry: g)
        case .averagePool2d(let geometry, let transpose):
            return Tensor.windowAverage(inputs[0], geometry, transpose: transpose)
        case .conv2d(let geometry):
            if let output, Tensor.convolution2d(inputs[0], inputs[1], inputs.count > 2 ? inputs[2] : nil, geometry: geometry,
                                                into: output, epilogue: nil) {
                return output
            }
            return Tensor.convolution2d(inputs[0], inputs[1], inputs.count > 2 ? inputs[2] : nil, geometry: geometry)
        case .conv2dInputGradient(let geometry):
            return Tensor.convolution2dInputGradient(inputs[0], inputs[1], geometry: geometry)
        case .conv2dWeightGradient(let geometry):
            return Tensor.convolution2dWeightGradient(inputs[0], inputs[1], geometry: geometry)
        }
    }

    public func runFused(_ program: FusedProgram, inputs: [Tensor], outputs: [Tensor]) {
        FusedKernel.run(program, inputs: inputs, outputs: outputs)
    }

    /// A matmul by a weight reuses the weight's packed panels while its version is unchanged.
    public func run(_ primitive: Primitive, inputs: [Tensor], output: Tensor?, state: BackendNodeState) -> Tensor {
        guard case .matmul = primitive, CPUBackend.isLinear(inputs[0], inputs[1]) else {
            return run(primitive, inputs: inputs, output: output)
        }
        let (a, b) = (inputs[0], inputs[1])
        let result = output ?? Tensor(uninitializedShape: Array(a.shape.dropLast()) + [b.shape[1]], dtype: b.dtype)
        MatrixProductKernel.run(a, b, into: result, batchShape: Array(a.shape.dropLast(2)), packedPanels: CPUBackend.panels(of: b, in: state))
        return result
    }

    /// The batch shape of a float product of two batched operands whose result `output` can
    /// hold (contiguous, its shape and dtype), or nil.
    static func batchedProduct(_ a: Tensor, _ b: Tensor, _ output: Tensor) -> [Int]? {
        guard a.rank >= 2, b.rank >= 2, a.dtype == b.dtype, a.dtype == output.dtype, a.dtype == .float32 || a.dtype == .float64,
              output.isContiguous, a.shape[a.rank - 1] == b.shape[b.rank - 2],
              let batch = Primitive.broadcast(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2))),
              output.shape == batch + [a.shape[a.rank - 2], b.shape[b.rank - 1]] else { return nil }
        return batch
    }

    /// `a` [..., n, k] times a matrix `b` [k, m] of the same float dtype: a linear layer, which
    /// GEMM runs as one product with the batch folded into its rows.
    static func isLinear(_ a: Tensor, _ b: Tensor) -> Bool {
        a.rank >= 2 && b.rank == 2 && a.dtype == b.dtype && (a.dtype == .float32 || a.dtype == .float64)
    }

    /// The group runs on each block of C on the GEMM thread that finished it, while it is hot.
    public func runMatmulEpilogue(_ a: Tensor, _ b: Tensor, product: Tensor, state: BackendNodeState?,
                                  program: FusedProgram, inputs: [Tensor], outputs: [Tensor]) {
        guard CPUBackend.isLinear(a, b) else {
            // Not one GEMM: the product, then the group.
            let result = run(.matmul, inputs: [a, b], output: product)
            runFused(program, inputs: inputs.map { $0 === product ? result : $0 }, outputs: outputs)
            return
        }
        let width = b.shape[1]
        MatrixProductKernel.run(a, b, into: product, batchShape: Array(a.shape.dropLast(2)),
                                packedPanels: state.map { CPUBackend.panels(of: b, in: $0) }) { rows, columns in
            let segments = rows.map { row in row * width + columns.lowerBound..<row * width + columns.upperBound }
            FusedKernel.run(program, inputs: inputs, outputs: outputs, segments: segments)
        }
    }

    /// The group runs on each chunk of images the convolution finishes, split across threads,
    /// while they are in cache.
    public func runConvolutionEpilogue(_ operands: [Tensor], geometry: ConvolutionGeometry, product: Tensor,
                                       program: FusedProgram, inputs: [Tensor], outputs: [Tensor]) {
        let imageSize = product.shape.dropFirst().reduce(1, *)
        let piece = 16_384
        let done = Tensor.convolution2d(operands[0], operands[1], operands.count > 2 ? operands[2] : nil, geometry: geometry,
                                        into: product) { images in
            let range = images.lowerBound * imageSize..<images.upperBound * imageSize
            let pieces = (range.count + piece - 1) / piece
            ParallelLoop.run(count: pieces, grain: 1) { indices in
                let segments = indices.map { range.lowerBound + $0 * piece..<Swift.min(range.lowerBound + ($0 + 1) * piece, range.upperBound) }
                FusedKernel.run(program, inputs: inputs, outputs: outputs, segments: segments)
            }
        }
        if !done {
            let result = run(.conv2d(geometry), inputs: operands, output: nil)
            runFused(program, inputs: inputs.map { $0 === product ? result : $0 }, outputs: outputs)
        }
    }

    /// The packed panels kept for weight `b` in `state`, emptied when `b` changed since.
    static func panels(of b: Tensor, in state: BackendNodeState) -> PackedPanels {
        let weight = (state.value as? PackedWeight) ?? PackedWeight()
        state.value = weight
        if weight.storage !== b.storage || weight.version != b.storage.version || weight.layout != b.layout {
            weight.panels.removeAll()
            (weight.storage, weight.version, weight.layout) = (b.storage, b.storage.version, b.layout)
        }
        return weight.panels
    }

    // Op tables by name: the graph stores names so that a saved graph stays readable.
    private static let unaryByName = Dictionary(uniqueKeysWithValues: UnaryOperation.all.map { ($0.name, $0) })
    private static let binaryByName = Dictionary(uniqueKeysWithValues: BinaryOperation.all.map { ($0.name, $0) })
    private static let reductionByName = Dictionary(uniqueKeysWithValues: ReductionOperation.all.map { ($0.name, $0) })

    static func unary(_ name: String) -> UnaryOperation {
        guard let operation = unaryByName[name] else { emberFailure("graph: unknown unary operation '\(name)'") }
        return operation
    }
    static func binary(_ name: String) -> BinaryOperation {
        guard let operation = binaryByName[name] else { emberFailure("graph: unknown binary operation '\(name)'") }
        return operation
    }
    /// The kernel of a reduction that can write into a planned `output`: one computed by a
    /// single kernel pass, from a float32 or float64 input of the output's dtype.
    static func plannedReduction(_ name: String, input: Tensor, output: Tensor) -> ReductionOp? {
        guard case .kernel(let kernel) = reduction(name).accumulation, input.dtype == output.dtype,
              input.dtype == .float32 || input.dtype == .float64 else { return nil }
        return kernel
    }

    static func reduction(_ name: String) -> ReductionOperation {
        guard let operation = reductionByName[name] else { emberFailure("graph: unknown reduction '\(name)'") }
        return operation
    }
    static let logicalKernels: [String: ember_binary_op] = [
        "logicalAnd": EMBER_LOGICAL_AND, "logicalOr": EMBER_LOGICAL_OR, "logicalXor": EMBER_LOGICAL_XOR,
    ]

    static func isKnown(_ primitive: Primitive) -> Bool {
        switch primitive {
        case .logical(let name): return logicalKernels[name] != nil
        case .unary(let name, _, _): return unaryByName[name] != nil
        case .binary(let name): return binaryByName[name] != nil
        case .reduce(let name, _, _): return reductionByName[name] != nil
        default: return true
        }
    }
}

extension Primitive.Comparison {
    var kernel: ember_compare_op {
        switch self {
        case .eq: return EMBER_EQ
        case .ne: return EMBER_NE
        case .lt: return EMBER_LT
        case .le: return EMBER_LE
        case .gt: return EMBER_GT
        case .ge: return EMBER_GE
        }
    }
}

/// Layer normalisation over the last dims of a contiguous float tensor in one kernel call per
/// block of rows (threaded), the compiled form of `Functional.layerNorm`.
enum LayerNormKernel {
    /// A layer norm over the last dim of a fused program's output, which is computed a tile
    /// of rows at a time and normalised while it is in L1 (see `FusedKernel.runRows`).
    static func runFused(_ program: FusedProgram, inputs: [Tensor], primitive: Primitive, affine: [Tensor], into output: Tensor) {
        guard case .layerNorm(_, let eps, let hasWeight, let hasBias) = primitive else { emberFailure("fused layer norm: not a layer norm") }
        let n = program.shape.last ?? 1
        let weight = hasWeight ? affine[0].contiguous() : nil
        let bias = hasBias ? affine[hasWeight ? 1 : 0].contiguous() : nil
        let weightPointer = weight.map { UnsafeRawPointer($0.baseAddress) }
        let biasPointer = bias.map { UnsafeRawPointer($0.baseAddress) }
        let result = output.baseAddress
        let isFloat = program.dtype == .float32
        FusedKernel.runRows(program, inputs: inputs, rowLength: n) { tile, start, length in
            if isFloat {
                ember_layer_norm_f32(tile.assumingMemoryBound(to: Float.self), (result + start * 4).assumingMemoryBound(to: Float.self),
                                     Int64(length / n), Int64(n), weightPointer?.assumingMemoryBound(to: Float.self),
                                     biasPointer?.assumingMemoryBound(to: Float.self), eps)
            } else {
                ember_layer_norm_f64(tile.assumingMemoryBound(to: Double.self), (result + start * 8).assumingMemoryBound(to: Double.self),
                                     Int64(length / n), Int64(n), weightPointer?.assumingMemoryBound(to: Double.self),
                                     biasPointer?.assumingMemoryBound(to: Double.self), eps)
            }
        }
    }

    /// nil when the operands do not suit the kernel (the caller runs the composition).
    static func run(_ x: Tensor, normalizedRank: Int, weight: Tensor?, bias: Tensor?, eps: Double, into planned: Tensor?) -> Tensor? {
        let dtype = x.dtype, normalizedShape = Array(x.shape.suffix(normalizedRank))
        guard dtype == .float32 || dtype == .float64, x.isContiguous,
              weight.map({ $0.dtype == dtype && $0.isContiguous && $0.shape == normalizedShape }) ?? true,
              bias.map({ $0.dtype == dtype && $0.isContiguous && $0.shape == normalizedShape }) ?? true else { return nil }
        let n = x.shape.suffix(normalizedRank).reduce(1, *)
        guard n > 0 else { return nil }
        let rows = x.count / n
        let output = planned ?? Tensor(uninitializedShape: x.shape, dtype: dtype)
        let input = x.baseAddress, result = output.baseAddress
        let weightPointer = weight.map { UnsafeRawPointer($0.baseAddress) }
        let biasPointer = bias.map { UnsafeRawPointer($0.baseAddress) }
        let grain = Swift.max(1, 16384 / n)
        ParallelLoop.run(count: rows, grain: grain) { range in
            let count = Int64(range.count), first = range.lowerBound * n
            if dtype == .float32 {
                ember_layer_norm_f32(input.assumingMemoryBound(to: Float.self) + first, result.assumingMemoryBound(to: Float.self) + first,
                                     count, Int64(n), weightPointer?.assumingMemoryBound(to: Float.self),
                                     biasPointer?.assumingMemoryBound(to: Float.self), eps)
            } else {
                ember_layer_norm_f64(input.assumingMemoryBound(to: Double.self) + first, result.assumingMemoryBound(to: Double.self) + first,
                                     count, Int64(n), weightPointer?.assumingMemoryBound(to: Double.self),
                                     biasPointer?.assumingMemoryBound(to: Double.self), eps)
            }
        }
        return output
    }
}
