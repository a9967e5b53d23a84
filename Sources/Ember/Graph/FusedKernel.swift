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
        /// The C kernel, resolved once so that a tile pays no lookup.
        let kernel: Kernel
    }

    enum Kernel: Sendable {
        case unary(ember_unary_op, Double, Double)
        case binary(ember_binary_op)
        case select

        init(_ primitive: Primitive) {
            switch primitive {
            case .unary(let name, let p0, let p1): self = .unary(CPUBackend.unary(name).kernel, p0, p1)
            case .binary(let name): self = .binary(CPUBackend.binary(name).kernel)
            case .select: self = .select
            default: emberFailure("fused: \(primitive.name) cannot run in a fused group")
            }
        }
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
    /// The steps as plain values (no strings or arrays), what a tile runs: copying one costs
    /// no reference counting.
    let instructions: [Instruction]

    /// One step for the tile loop: the kernel, up to three operands (an operand `o` >= 0 is
    /// step result `o`; `-1 - i` is input `i`), and where the result goes.
    struct Instruction: Sendable {
        let kernel: Kernel
        let operands: (Int32, Int32, Int32)
        /// The output index, or -1 - register.
        let destination: Int32
    }
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
            built.append(Step(primitive: step.0, operands: step.1, register: register, output: output, kernel: Kernel(step.0)))
            for case .step(let source) in step.1 where lastUse[source] == index && registerOf[source] >= 0 {
                if !free.contains(registerOf[source]) { free.append(registerOf[source]) }
            }
        }
        self.steps = built
        self.registerCount = registerCount
        instructions = built.map { step in
            let codes = step.operands.map { operand -> Int32 in
                switch operand {
                case .input(let index): return Int32(-1 - index)
                case .step(let index): return Int32(index)
                }
            } + [0, 0, 0]
            return Instruction(kernel: step.kernel, operands: (codes[0], codes[1], codes[2]),
                               destination: step.output.map(Int32.init) ?? Int32(-1 - step.register))
        }
    }
}

/// Runs fused programs over tiles, threaded over blocks of tiles.
enum FusedKernel {
    /// Elements per tile: 2048 floats (8 KiB) per register keeps several registers in L1.
    static let tileBytes = 8192

    static func run(_ program: FusedProgram, inputs: [Tensor], outputs: [Tensor]) {
        run(program, inputs: inputs, outputPointers: outputs.map { $0.baseAddress }, rowLength: nil, sink: nil)
    }

    /// Runs a one-output program in tiles of whole rows of `rowLength` elements and hands each
    /// tile, still in L1, to `sink(tile, firstElement, elementCount)` instead of writing it out:
    /// how a row op (layer norm) takes a pointwise prologue without a round trip to memory.
    static func runRows(_ program: FusedProgram, inputs: [Tensor], rowLength: Int,
                        sink: @escaping (UnsafeRawPointer, Int, Int) -> Void) {
        run(program, inputs: inputs, outputPointers: [], rowLength: rowLength, sink: sink)
    }

    /// Runs the program over the given ranges of elements only, on the calling thread: a GEMM
    /// thread's epilogue over the block of C it has just written (rows of a column range).
    static func run(_ program: FusedProgram, inputs: [Tensor], outputs: [Tensor], segments: [Range<Int>]) {
        run(program, inputs: inputs, outputPointers: outputs.map { $0.baseAddress }, rowLength: nil, sink: nil, segments: segments)
    }

    private static func run(_ program: FusedProgram, inputs: [Tensor], outputPointers: [UnsafeMutableRawPointer],
                            rowLength: Int?, sink: ((UnsafeRawPointer, Int, Int) -> Void)?, segments: [Range<Int>]? = nil) {
        let count = program.shape.reduce(1, *)
        guard count > 0 else { return }
        let elementSize = program.dtype.byteSize
        var tile = tileBytes / elementSize
        // Row tiles are larger (32 KiB): each also pays a call of the row op, and it keeps the
        // rows in L1 or L2 either way.
        if let rowLength { tile = Swift.max(1, 4 * tile / rowLength) * rowLength }
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
        let tiles = (count + tile - 1) / tile
        // With a sink, one more register receives the program's output.
        let registerBytes = (program.registerCount + (sink == nil ? 0 : 1)) * tile * elementSize
        // The input gathers need a tile each for inputs that are not dense or scalar.
        let gatherCount = descriptors.filter { !$0.isDense && !$0.isScalar }.count
        let scratchBytes = registerBytes + gatherCount * tile * 8
        let grain = Swift.max(1, 32768 / tile)
        let inputKinds: [UInt8] = descriptors.map { $0.isScalar ? 1 : ($0.isDense ? 0 : 2) }
        let inputSizes = descriptors.map { $0.dtype.byteSize }
        // Each tile is a range of elements: all of them in steps of `tile`, or each segment's.
        var tileRanges: [Range<Int>] = []
        if let segments {
            for segment in segments {
                var start = segment.lowerBound
                while start < segment.upperBound {
                    tileRanges.append(start..<Swift.min(start + tile, segment.upperBound))
                    start += tile
                }
            }
        }
        let tileCount = segments == nil ? tiles : tileRanges.count
        inputKinds.withUnsafeBufferPointer { kinds in
        inputSizes.withUnsafeBufferPointer { sizes in
        ParallelLoop.run(count: tileCount, grain: segments == nil ? grain : Swift.max(tileCount, 1)) { range in
            withUnsafeTemporaryAllocation(byteCount: Swift.max(scratchBytes, 64), alignment: 64) { scratch in
                withUnsafeTemporaryAllocation(of: UnsafeRawPointer.self, capacity: inputs.count + program.steps.count) { pointers in
                    withUnsafeTemporaryAllocation(of: Int64.self, capacity: inputs.count + program.steps.count) { strides in
                        let base = scratch.baseAddress!
                        let tileState = TileState(operandPointers: pointers.baseAddress!, operandStrides: strides.baseAddress!,
                                                  inputCount: inputs.count, inputKinds: kinds.baseAddress!, inputSizes: sizes.baseAddress!,
                                                  registers: base, gathers: base + registerBytes)
                        let sinkRegister = base + program.registerCount * tile * elementSize
                        for tileIndex in range {
                            let start = segments == nil ? tileIndex * tile : tileRanges[tileIndex].lowerBound
                            let length = segments == nil ? Swift.min(tile, count - start) : tileRanges[tileIndex].count
                            if let sink {
                                // The output "buffer" is the sink register, placed so that
                                // element `start` lands at its first byte.
                                let shifted = [sinkRegister - start * elementSize]
                                runTile(program, descriptors, start: start, length: length, tile: tile,
                                        inputs: inputPointers, outputs: shifted, state: tileState)
                                sink(UnsafeRawPointer(sinkRegister), start, length)
                            } else {
                                runTile(program, descriptors, start: start, length: length, tile: tile,
                                        inputs: inputPointers, outputs: outputPointers, state: tileState)
                            }
                        }
                    }
                }
            }
        }
        }
        }
    }

    /// A thread's scratch: operand pointers and strides (inputs first, then step results),
    /// tile registers and gather buffers.
    private struct TileState {
        let operandPointers: UnsafeMutablePointer<UnsafeRawPointer>
        let operandStrides: UnsafeMutablePointer<Int64>
        let inputCount: Int
        /// Per input: 0 dense, 1 scalar, 2 gathered; and its element size.
        let inputKinds: UnsafePointer<UInt8>
        let inputSizes: UnsafePointer<Int>
        let registers: UnsafeMutableRawPointer
        let gathers: UnsafeMutableRawPointer
    }

    /// One tile: gather the inputs that need it, then run every step.
    private static func runTile(_ program: FusedProgram, _ descriptors: [FusedProgram.Input], start: Int, length: Int, tile: Int,
                                inputs: [UnsafeRawPointer], outputs: [UnsafeMutableRawPointer], state: TileState) {
        let elementSize = program.dtype.byteSize
        var gather = 0
        for index in 0..<state.inputCount {
            switch state.inputKinds[index] {
            case 1:
                state.operandPointers[index] = inputs[index]
                state.operandStrides[index] = 0
            case 0:
                state.operandPointers[index] = inputs[index] + start * state.inputSizes[index]
                state.operandStrides[index] = 1
            default:
                let destination = state.gathers + gather * tile * 8
                gather += 1
                gatherTile(descriptors[index], from: inputs[index], start: start, length: length, shape: program.shape, into: destination)
                state.operandPointers[index] = UnsafeRawPointer(destination)
                state.operandStrides[index] = 1
            }
        }
        var shape = Int64(length)
        var unit: Int64 = 1
        let dtype = program.dtype.cType
        let inputCount = state.inputCount
        program.instructions.withUnsafeBufferPointer { instructions in
            for index in 0..<instructions.count {
                let instruction = instructions[index]
                let destination = Int(instruction.destination)
                let result = destination >= 0 ? outputs[destination] + start * elementSize
                    : state.registers + (-1 - destination) * tile * elementSize
                @inline(__always) func operand(_ code: Int32) -> (UnsafeRawPointer, Int64) {
                    if code >= 0 { return (state.operandPointers[inputCount + Int(code)], 1) }
                    let input = Int(-1 - code)
                    return (state.operandPointers[input], state.operandStrides[input])
                }
                switch instruction.kernel {
                case .unary(let kernel, let p0, let p1):
                    let (x, stride) = operand(instruction.operands.0)
                    if stride == 0 {
                        // A scalar operand: broadcast it into the result, then apply in place.
                        var zero: Int64 = 0
                        ember_copy(dtype, dtype, 1, &shape, result, &unit, x, &zero)
                        unaryContiguous(kernel, program.dtype, UnsafeRawPointer(result), result, length, p0, p1)
                    } else {
                        unaryContiguous(kernel, program.dtype, x, result, length, p0, p1)
                    }
                case .binary(let kernel):
                    let (a, aStride) = operand(instruction.operands.0), (b, bStride) = operand(instruction.operands.1)
                    var sa = aStride, sb = bStride
                    ember_binary(kernel, dtype, 1, &shape, result, &unit, a, &sa, b, &sb)
                case .select:
                    let (c, cStride) = operand(instruction.operands.0)
                    let (a, aStride) = operand(instruction.operands.1), (b, bStride) = operand(instruction.operands.2)
                    var sc = cStride, sa = aStride, sb = bStride
                    ember_where(dtype, 1, &shape, result, &unit, c.assumingMemoryBound(to: Bool.self), &sc, a, &sa, b, &sb)
                }
                state.operandPointers[inputCount + index] = UnsafeRawPointer(result)
            }
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
