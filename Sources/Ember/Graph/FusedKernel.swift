import CEmberKernels
import EmberKernels

/// A group of pointwise nodes compiled into one pass over memory: the steps run tile by tile,
/// each tile a few thousand elements that stay in L1 while every step's vector kernel runs
/// over it (as numexpr does; with no compiler at run time, the existing kernels are the
/// instructions). Intermediate values never reach memory; only the group's outputs do.
///
/// Operands of a step are either external inputs (broadcast to the group's shape) or earlier
/// steps' results, held in per-thread tile registers.
public struct FusedProgram: CustomStringConvertible, Sendable {
    /// Where a step reads an operand.
    public enum Operand: Hashable, Sendable {
        /// External input `index` (see `inputs`).
        case input(Int)
        /// The result of step `index`.
        case step(Int)
    }

    public struct Step: Sendable {
        public let primitive: Primitive
        public let operands: [Operand]
        /// The tile register the result goes to, or the output it is written to.
        let register: Int
        let output: Int?
    }

    /// An external input as one call passes it: its broadcast strides over the group's shape.
    struct Input {
        /// The dtype the steps read: the group's, or bool for a `where` condition.
        let dtype: DType
        /// Element strides of the input viewed at the group's shape (0 where broadcast).
        let strides: [Int]
        /// Contiguous with the group's shape: tiles are read in place.
        let isDense: Bool
        /// One element for the whole group: read in place with stride 0.
        let isScalar: Bool
    }

    /// The group's shape; every step's result has it.
    public let shape: [Int]
    /// float32 or float64: every step computes in it.
    public let dtype: DType
    public let steps: [Step]
    /// The dtype each external input is read in (the group's, or bool for conditions).
    let inputTypes: [DType]
    /// How many tile registers a thread needs.
    let registerCount: Int
    /// The graph value each output stands for (for listings).
    public let outputValues: [Int]

    public var description: String {
        let body = steps.enumerated().map { index, step in
            let operands = step.operands.map { operand -> String in
                switch operand {
                case .input(let i): return "in\(i)"
                case .step(let s): return "t\(s)"
                }
            }.joined(separator: ", ")
            return "t\(index) = \(step.primitive)(\(operands))" + (step.output.map { " -> out\($0)" } ?? "")
        }
        return "fused \(dtype)\(shape) { " + body.joined(separator: "; ") + " }"
    }

    /// Can `primitive` run inside a group of `dtype`?
    static func accepts(_ primitive: Primitive, dtype: DType) -> Bool {
        guard dtype == .float32 || dtype == .float64 else { return false }
        switch primitive {
        case .unary: return CPUBackend.isKnown(primitive)
        case .binary(let name): return CPUBackend.isKnown(primitive) && name != "floorDivide"
        case .select: return true
        default: return false
        }
    }

    /// Builds a program from its steps in order (each with its operands), the dtypes of the
    /// external inputs, and which steps' results leave the group.
    init(shape: [Int], dtype: DType, steps: [(Primitive, [Operand])], inputTypes: [DType],
         outputSteps: [Int], outputValues: [Int]) {
        self.shape = shape
        self.dtype = dtype
        self.outputValues = outputValues
        self.inputTypes = inputTypes.map { $0 == .bool ? .bool : dtype }
        // Tile registers by liveness: a register is free again after its value's last read.
        var lastUse = [Int](repeating: -1, count: steps.count)
        for (index, step) in steps.enumerated() {
            for case .step(let source) in step.1 { lastUse[source] = index }
        }
        var free: [Int] = []
        var registerCount = 0
        var built: [Step] = []
        var registerOf = [Int](repeating: -1, count: steps.count)
        for (index, step) in steps.enumerated() {
            let output = outputSteps.firstIndex(of: index)
            var register = -1
            if output == nil {
                if let reused = free.popLast() { register = reused } else { register = registerCount; registerCount += 1 }
            }
            registerOf[index] = register
            built.append(Step(primitive: step.0, operands: step.1, register: register, output: output))
            for case .step(let source) in step.1 where lastUse[source] == index && registerOf[source] >= 0 {
                if !free.contains(registerOf[source]) { free.append(registerOf[source]) }
            }
        }
        self.steps = built
        self.registerCount = registerCount
    }
}

/// Runs fused programs over tiles, threaded over blocks of tiles.
enum FusedKernel {
    /// Elements per tile: 2048 floats (8 KiB) per register keeps several registers in L1.
    static let tileBytes = 8192

    static func run(_ program: FusedProgram, inputs: [Tensor], outputs: [Tensor]) {
        let count = program.shape.reduce(1, *)
        guard count > 0 else { return }
        let elementSize = program.dtype.byteSize
        let tile = tileBytes / elementSize
        // Each input is read through its own strides, broadcast to the group's shape; only a
        // one-element input of another dtype (a Swift scalar) is converted first.
        let denseStrides = Layout.contiguousStrides(for: program.shape)
        let sources: [Tensor] = zip(inputs, program.inputTypes).map { tensor, dtype in
            tensor.dtype == dtype ? tensor : withoutGrad { tensor.to(dtype) }
        }
        let descriptors: [FusedProgram.Input] = zip(sources, program.inputTypes).map { tensor, dtype in
            let strides = Broadcast.strides(of: tensor.layout, to: program.shape)
            let isDense = program.shape.indices.allSatisfy { program.shape[$0] == 1 || strides[$0] == denseStrides[$0] }
            return FusedProgram.Input(dtype: dtype, strides: strides, isDense: isDense, isScalar: tensor.count == 1)
        }
        let inputPointers = sources.map { UnsafeRawPointer($0.baseAddress) }
        let outputPointers = outputs.map { $0.baseAddress }
        let tiles = (count + tile - 1) / tile
        let registerBytes = program.registerCount * tile * elementSize
        // The input gathers need a tile each for inputs that are not dense or scalar.
        let gatherCount = descriptors.filter { !$0.isDense && !$0.isScalar }.count
        let scratchBytes = registerBytes + gatherCount * tile * 8
        let grain = Swift.max(1, 32768 / tile)
        ParallelLoop.run(count: tiles, grain: grain) { range in
            withUnsafeTemporaryAllocation(byteCount: Swift.max(scratchBytes, 64), alignment: 64) { scratch in
                let base = scratch.baseAddress!
                for tileIndex in range {
                    let start = tileIndex * tile
                    let length = Swift.min(tile, count - start)
                    runTile(program, descriptors, start: start, length: length, tile: tile, inputs: inputPointers,
                            outputs: outputPointers, registers: base, gathers: base + registerBytes)
                }
            }
        }
    }

    /// One tile: gather the inputs that need it, then run every step.
    private static func runTile(_ program: FusedProgram, _ descriptors: [FusedProgram.Input], start: Int, length: Int, tile: Int,
                                inputs: [UnsafeRawPointer], outputs: [UnsafeMutableRawPointer],
                                registers: UnsafeMutableRawPointer, gathers: UnsafeMutableRawPointer) {
        let elementSize = program.dtype.byteSize
        // Each operand as (pointer, stride 0 or 1).
        var inputOperands: [(UnsafeRawPointer, Int64)] = []
        inputOperands.reserveCapacity(inputs.count)
        var gather = 0
        for (index, input) in descriptors.enumerated() {
            let size = input.dtype.byteSize
            if input.isScalar {
                inputOperands.append((inputs[index], 0))
            } else if input.isDense {
                inputOperands.append((inputs[index] + start * size, 1))
            } else {
                let destination = gathers + gather * tile * 8
                gather += 1
                gatherTile(input, from: inputs[index], start: start, length: length, shape: program.shape, into: destination)
                inputOperands.append((UnsafeRawPointer(destination), 1))
            }
        }
        var shape = Int64(length)
        var unit: Int64 = 1
        func resultPointer(_ step: FusedProgram.Step) -> UnsafeMutableRawPointer {
            if let output = step.output { return outputs[output] + start * elementSize }
            return registers + step.register * tile * elementSize
        }
        var stepPointers: [UnsafeMutableRawPointer] = []
        stepPointers.reserveCapacity(program.steps.count)
        for step in program.steps {
            let result = resultPointer(step)
            func operand(_ operand: FusedProgram.Operand) -> (UnsafeRawPointer, Int64) {
                switch operand {
                case .input(let index): return inputOperands[index]
                case .step(let index): return (UnsafeRawPointer(stepPointers[index]), 1)
                }
            }
            switch step.primitive {
            case .unary(let name, let p0, let p1):
                let (x, stride) = operand(step.operands[0])
                let kernel = CPUBackend.unary(name).kernel
                if stride == 0 {
                    // A scalar operand: compute once, then broadcast.
                    var a: Int64 = 0
                    ember_copy(program.dtype.cType, program.dtype.cType, 1, &shape, result, &unit, x, &a)
                    unaryContiguous(kernel, program.dtype, UnsafeRawPointer(result), result, length, p0, p1)
                } else {
                    unaryContiguous(kernel, program.dtype, x, result, length, p0, p1)
                }
            case .binary(let name):
                let (a, aStride) = operand(step.operands[0]), (b, bStride) = operand(step.operands[1])
                var sa = aStride, sb = bStride
                ember_binary(CPUBackend.binary(name).kernel, program.dtype.cType, 1, &shape, result, &unit, a, &sa, b, &sb)
            case .select:
                let (c, cStride) = operand(step.operands[0])
                let (a, aStride) = operand(step.operands[1]), (b, bStride) = operand(step.operands[2])
                var sc = cStride, sa = aStride, sb = bStride
                ember_where(program.dtype.cType, 1, &shape, result, &unit, c.assumingMemoryBound(to: Bool.self), &sc, a, &sa, b, &sb)
            default:
                emberFailure("fused: \(step.primitive.name) cannot run in a fused group")
            }
            stepPointers.append(result)
        }
    }

    private static func unaryContiguous(_ kernel: ember_unary_op, _ dtype: DType, _ x: UnsafeRawPointer,
                                        _ y: UnsafeMutableRawPointer, _ n: Int, _ p0: Double, _ p1: Double) {
        if dtype == .float32 {
            ember_unary_f32(kernel, x.assumingMemoryBound(to: Float.self), y.assumingMemoryBound(to: Float.self), Int64(n), p0, p1)
        } else {
            ember_unary_f64(kernel, x.assumingMemoryBound(to: Double.self), y.assumingMemoryBound(to: Double.self), Int64(n), p0, p1)
        }
    }

    /// Copies elements `start..<start+length` (in the group's row-major order) of a broadcast
    /// input into `destination`, a row segment at a time.
    private static func gatherTile(_ input: FusedProgram.Input, from source: UnsafeRawPointer, start: Int, length: Int,
                                   shape: [Int], into destination: UnsafeMutableRawPointer) {
        let rank = shape.count
        let inner = shape[rank - 1]
        let innerStride = Int64(input.strides[rank - 1])
        let size = input.dtype.byteSize
        var position = start
        var written = 0
        while written < length {
            let column = position % inner
            var row = position / inner
            // Offset of the row start: decompose the row index over the outer dims.
            var offset = column * input.strides[rank - 1]
            var dim = rank - 2
            while dim >= 0 {
                offset += (row % shape[dim]) * input.strides[dim]
                row /= shape[dim]
                dim -= 1
            }
            var segment = Int64(Swift.min(inner - column, length - written))
            var unit: Int64 = 1, stride = innerStride
            ember_copy(input.dtype.cType, input.dtype.cType, 1, &segment, destination + written * size, &unit,
                       source + offset * size, &stride)
            written += Int(segment)
            position += Int(segment)
        }
    }
}
