/// A value from a pickle: the plain Python data of a checkpoint (dicts, lists, numbers,
/// strings) with its tensors already rebuilt.
///
///     let root = try TorchCheckpoint.load(from: url)
///     let model = root["model"]?.stateDict      // StateDict
///     let epoch = root["epoch"]?.int            // 3
public indirect enum PickleValue: CustomStringConvertible {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case list([PickleValue])
    case tuple([PickleValue])
    /// Dicts and OrderedDicts, in insertion order.
    case dict([(key: PickleValue, value: PickleValue)])
    case tensor(Tensor)
    /// An allow-listed global used as a value (for example `torch.float32`).
    case global(String)

    /// The value stored under a string key of a dict.
    public subscript(key: String) -> PickleValue? {
        guard case let .dict(entries) = self else { return nil }
        return entries.first { if case .string(key) = $0.key { return true } else { return false } }?.value
    }

    public var int: Int? { if case let .int(value) = self { return value } else { return nil } }
    public var double: Double? {
        switch self {
        case let .float(value): return value
        case let .int(value): return Double(value)
        default: return nil
        }
    }
    public var string: String? { if case let .string(value) = self { return value } else { return nil } }
    public var tensor: Tensor? { if case let .tensor(value) = self { return value } else { return nil } }

    /// The tensors of a dict whose values are tensors (a `state_dict()`), in order; entries
    /// that are not string → tensor are skipped.
    public var stateDict: StateDict? {
        guard case let .dict(entries) = self else { return nil }
        var state = StateDict()
        for (key, value) in entries {
            if case let .string(name) = key, case let .tensor(tensor) = value { state[name] = tensor }
        }
        return state
    }

    /// Every tensor reachable through dicts, lists and tuples, named by its dotted path
    /// (`model.fc.weight`, `optimizer.state.0.exp_avg`).
    public var flattenedTensors: StateDict {
        var state = StateDict()
        func visit(_ value: PickleValue, _ path: String) {
            func join(_ part: String) -> String { path.isEmpty ? part : path + "." + part }
            switch value {
            case let .tensor(tensor): state[path] = tensor
            case let .dict(entries):
                for (key, item) in entries {
                    switch key {
                    case let .string(name): visit(item, join(name))
                    case let .int(index): visit(item, join(String(index)))
                    default: continue
                    }
                }
            case let .list(items), let .tuple(items):
                for (index, item) in items.enumerated() { visit(item, join(String(index))) }
            default: break
            }
        }
        visit(self, "")
        return state
    }

    public var description: String {
        switch self {
        case .none: return "None"
        case let .bool(value): return value ? "True" : "False"
        case let .int(value): return String(value)
        case let .float(value): return String(value)
        case let .string(value): return value.debugDescription
        case let .bytes(value): return "b<\(value.count) bytes>"
        case let .list(items): return "[" + items.map(\.description).joined(separator: ", ") + "]"
        case let .tuple(items): return "(" + items.map(\.description).joined(separator: ", ") + (items.count == 1 ? ",)" : ")")
        case let .dict(entries): return "{" + entries.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
        case let .tensor(tensor): return "tensor(shape: \(tensor.shape), dtype: \(tensor.dtype))"
        case let .global(name): return name
        }
    }
}

/// A storage that a persistent id resolved to: raw bytes and the dtype the pickle gave them.
struct PickledStorage {
    let storage: TensorStorage
    let byteCount: Int
    let dtype: DType
}

/// The mutable containers of the pickle machine: memoised objects are shared, so appending to
/// a list through one reference must be visible through the memo.
final class PickleListBox { var items: [PickleObject] = [] }
final class PickleDictBox { var entries: [(PickleObject, PickleObject)] = [] }
/// Tuples are boxed too, so that taking a graph apart visits each container once even when a
/// crafted pickle shares one tuple exponentially many times (DUP, TUPLE2, DUP, TUPLE2…).
final class PickleTupleBox {
    var items: [PickleObject]
    init(_ items: [PickleObject]) { self.items = items }
}

indirect enum PickleObject {
    case none, bool(Bool), int(Int), float(Double), string(String), bytes([UInt8])
    case tuple(PickleTupleBox)
    case list(PickleListBox)
    case dict(PickleDictBox)
    case global(String)
    case storage(PickledStorage)
    case tensor(Tensor)
}

/// A pickle interpreter that only builds data.
///
/// Python's unpickler can call any importable function (`os.system` included), so a
/// checkpoint from the internet is a program. This machine implements the opcodes that
/// `torch.save` emits (protocols 2-5) and resolves GLOBAL/STACK_GLOBAL only against an allow
/// list of tensor-rebuilding functions, storage types, dtypes and `collections.OrderedDict`;
/// every other global is refused by name before anything is built, and nothing is ever
/// executed: each allowed global maps to a Swift function below.
struct PickleMachine {
    static let format = "pickle"
    /// Deepest nesting of containers accepted when converting the result.
    static let maximumDepth = 256
    /// Most values produced when converting the result (shared references are expanded, so
    /// a crafted DAG of shared lists could otherwise grow exponentially).
    static let maximumValues = 2_000_000

    static let storageTypes: [String: DType] = [
        "torch.FloatStorage": .float32, "torch.DoubleStorage": .float64, "torch.HalfStorage": .float16,
        "torch.BFloat16Storage": .bfloat16, "torch.LongStorage": .int64, "torch.IntStorage": .int32,
        "torch.ByteStorage": .uint8, "torch.BoolStorage": .bool, "torch.storage.UntypedStorage": .uint8,
        "torch.UntypedStorage": .uint8,
    ]
    static let dtypeGlobals: [String: DType] = [
        "torch.float32": .float32, "torch.float64": .float64, "torch.float16": .float16, "torch.bfloat16": .bfloat16,
        "torch.int64": .int64, "torch.int32": .int32, "torch.uint8": .uint8, "torch.bool": .bool,
    ]
    static let callables: Set<String> = [
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state", "torch.Size",
        "_codecs.encode", "torch.device",
    ]

    static func isAllowed(_ name: String) -> Bool {
        callables.contains(name) || storageTypes[name] != nil || dtypeGlobals[name] != nil
    }

    private var reader: ByteReader
    private var stack: [PickleObject] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleObject] = [:]
    private let persistentLoad: (PickleObject) throws -> PickleObject

    init(_ bytes: UnsafeRawBufferPointer, persistentLoad: @escaping (PickleObject) throws -> PickleObject) {
        self.reader = ByteReader(bytes, format: PickleMachine.format)
        self.persistentLoad = persistentLoad
    }

    private func fail(_ message: String) -> SerializationError {
        .malformed(format: PickleMachine.format, message: "\(message) (at byte \(reader.position))")
    }

    private mutating func pop() throws -> PickleObject {
        guard let value = stack.popLast(), stack.count >= (marks.last ?? 0) else { throw fail("stack underflow") }
        return value
    }

    private mutating func popMark() throws -> [PickleObject] {
        guard let mark = marks.popLast() else { throw fail("no MARK on the stack") }
        guard mark <= stack.count else { throw fail("MARK past the stack top") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private mutating func push(_ value: PickleObject) { stack.append(value) }

    private mutating func readLine() throws -> String {
        var bytes: [UInt8] = []
        while true {
            let byte = try reader.readByte("text line")
            if byte == 0x0A { break }
            bytes.append(byte)
            guard bytes.count <= 256 else { throw fail("text line longer than 256 bytes") }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private mutating func global(module: String, name: String) throws -> PickleObject {
        let qualified = module + "." + name
        guard PickleMachine.isAllowed(qualified) else { throw SerializationError.disallowedGlobal(qualified) }
        return .global(qualified)
    }

    /// Runs the pickle and converts its result, then takes the object graph apart iteratively:
    /// a hostile pickle can nest 100k containers (or build cycles), and releasing that with
    /// ordinary recursive deinits would overflow the stack (or leak the cycle).
    static func evaluate(_ bytes: UnsafeRawBufferPointer,
                         persistentLoad: @escaping (PickleObject) throws -> PickleObject) throws -> PickleValue {
        var machine = PickleMachine(bytes, persistentLoad: persistentLoad)
        var result: PickleObject?
        defer { machine.dismantle(also: result) }
        result = try machine.run()
        return try convert(result!)
    }

    mutating func dismantle(also extra: PickleObject?) {
        var work = stack + Array(memo.values)
        if let extra { work.append(extra) }
        stack = []
        memo = [:]
        while let object = work.popLast() {
            switch object {
            case let .tuple(tuple): work += tuple.items; tuple.items = []
            case let .list(list): work += list.items; list.items = []
            case let .dict(dict):
                for (key, value) in dict.entries { work.append(key); work.append(value) }
                dict.entries = []
            default: break
            }
        }
    }

    /// Runs the pickle to its STOP opcode and returns the value it built.
    mutating func run() throws -> PickleObject {
        while true {
            let opcode = try reader.readByte("opcode")
            switch opcode {
            case 0x80: // PROTO
                let version = try reader.readByte("protocol")
                guard version >= 2 && version <= 5 else { throw fail("unsupported pickle protocol \(version)") }
            case 0x95: _ = try reader.readLittleEndian(8, "FRAME length") // frames only group bytes
            case 0x2E: // STOP
                let result = try pop()
                return result
            case 0x28: marks.append(stack.count) // MARK
            case 0x4E: push(.none)
            case 0x88: push(.bool(true))
            case 0x89: push(.bool(false))
            case 0x4B: push(.int(Int(try reader.readByte("BININT1"))))
            case 0x4D: push(.int(try reader.readUInt16("BININT2")))
            case 0x4A: push(.int(Int(Int32(truncatingIfNeeded: try reader.readUInt32("BININT")))))
            case 0x8A, 0x8B: // LONG1, LONG4
                let length = opcode == 0x8A ? Int(try reader.readByte("LONG1 length")) : try reader.readUInt32("LONG4 length")
                guard length <= 8 else { throw fail("integer of \(length) bytes does not fit 64 bits") }
                let bytes = try reader.readBytes(length, "LONG bytes")
                var value: UInt64 = 0
                for (index, byte) in bytes.enumerated() { value |= UInt64(byte) << (8 * UInt64(index)) }
                if length > 0 && length < 8 && bytes[length - 1] & 0x80 != 0 { value |= ~UInt64(0) << (8 * UInt64(length)) }
                push(.int(Int(Int64(bitPattern: value))))
            case 0x47: // BINFLOAT, big-endian
                let bytes = try reader.readBytes(8, "BINFLOAT")
                push(.float(Double(bitPattern: bytes.reduce(0) { $0 << 8 | UInt64($1) })))
            case 0x58, 0x8C, 0x8D: // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
                let width = opcode == 0x8C ? 1 : opcode == 0x58 ? 4 : 8
                let length = try reader.readLittleEndian(width, "string length")
                guard length <= UInt64(reader.remaining) else {
                    throw SerializationError.outOfBounds(format: PickleMachine.format, context: "string length \(length) is past the end of the pickle")
                }
                push(.string(try reader.readString(Int(length), "string")))
            case 0x42, 0x43, 0x8E: // BINBYTES, SHORT_BINBYTES, BINBYTES8
                let width = opcode == 0x43 ? 1 : opcode == 0x42 ? 4 : 8
                let length = try reader.readLittleEndian(width, "bytes length")
                guard length <= UInt64(reader.remaining) else {
                    throw SerializationError.outOfBounds(format: PickleMachine.format, context: "bytes length \(length) is past the end of the pickle")
                }
                push(.bytes(try reader.readBytes(Int(length), "bytes")))
            case 0x7D: push(.dict(PickleDictBox()))             // EMPTY_DICT
            case 0x5D: push(.list(PickleListBox()))             // EMPTY_LIST
            case 0x29: push(.tuple(PickleTupleBox([])))                         // EMPTY_TUPLE
            case 0x74: push(.tuple(PickleTupleBox(try popMark())))              // TUPLE
            case 0x85: push(.tuple(PickleTupleBox([try pop()])))                // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); push(.tuple(PickleTupleBox([a, b])))
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); push(.tuple(PickleTupleBox([a, b, c])))
            case 0x6C: let list = PickleListBox(); list.items = try popMark(); push(.list(list)) // LIST
            case 0x64: // DICT
                let items = try popMark()
                guard items.count % 2 == 0 else { throw fail("DICT with an odd number of items") }
                let dict = PickleDictBox()
                for i in stride(from: 0, to: items.count, by: 2) { dict.entries.append((items[i], items[i + 1])) }
                push(.dict(dict))
            case 0x61: // APPEND
                let value = try pop()
                guard case let .list(list) = stack.last else { throw fail("APPEND to a non-list") }
                list.items.append(value)
            case 0x65: // APPENDS
                let items = try popMark()
                guard case let .list(list) = stack.last else { throw fail("APPENDS to a non-list") }
                list.items += items
            case 0x73: // SETITEM
                let value = try pop(), key = try pop()
                guard case let .dict(dict) = stack.last else { throw fail("SETITEM on a non-dict") }
                dict.entries.append((key, value))
            case 0x75: // SETITEMS
                let items = try popMark()
                guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items") }
                guard case let .dict(dict) = stack.last else { throw fail("SETITEMS on a non-dict") }
                for i in stride(from: 0, to: items.count, by: 2) { dict.entries.append((items[i], items[i + 1])) }
            case 0x71: memo[Int(try reader.readByte("BINPUT"))] = try top()
            case 0x72: memo[try reader.readUInt32("LONG_BINPUT")] = try top()
            case 0x94: memo[memo.count] = try top()             // MEMOIZE
            case 0x68, 0x6A: // BINGET, LONG_BINGET
                let index = opcode == 0x68 ? Int(try reader.readByte("BINGET")) : try reader.readUInt32("LONG_BINGET")
                guard let value = memo[index] else { throw fail("memo key \(index) was never stored") }
                push(value)
            case 0x30: _ = try pop()                            // POP
            case 0x31: _ = try popMark()                        // POP_MARK
            case 0x32: push(try top())                          // DUP
            case 0x63: // GLOBAL "module\nname\n"
                let module = try readLine(), name = try readLine()
                push(try global(module: module, name: name))
            case 0x93: // STACK_GLOBAL
                guard case let .string(name) = try pop(), case let .string(module) = try pop() else {
                    throw fail("STACK_GLOBAL needs two strings")
                }
                push(try global(module: module, name: name))
            case 0x52, 0x81: // REDUCE, NEWOBJ: callable(*args), only for allow-listed callables
                let arguments = try pop(), callable = try pop()
                guard case let .global(name) = callable else { throw fail("REDUCE on something that is not an allowed global") }
                guard case let .tuple(argumentBox) = arguments else { throw fail("REDUCE arguments are not a tuple") }
                push(try call(name, argumentBox.items))
            case 0x62: // BUILD: state for the object below; only dicts (OrderedDict._metadata) and tensors take it
                _ = try pop()
                switch try top() {
                case .dict, .tensor: break
                default: throw fail("BUILD on an object that takes no state")
                }
            case 0x51: // BINPERSID
                push(try persistentLoad(try pop()))
            default:
                throw SerializationError.malformed(format: PickleMachine.format,
                                                   message: "unsupported opcode 0x\(String(opcode, radix: 16)) at byte \(reader.position - 1)")
            }
        }
    }

    private func top() throws -> PickleObject {
        guard let value = stack.last, stack.count > (marks.last ?? 0) else { throw fail("empty stack") }
        return value
    }

    // MARK: The allow-listed callables

    private func call(_ name: String, _ args: [PickleObject]) throws -> PickleObject {
        switch name {
        case "collections.OrderedDict":
            let dict = PickleDictBox()
            if let first = args.first {
                guard case let .list(pairs) = first else { throw fail("OrderedDict expects a list of pairs") }
                for pair in pairs.items {
                    guard case let .tuple(tuple) = pair, tuple.items.count == 2 else { throw fail("OrderedDict expects pairs") }
                    dict.entries.append((tuple.items[0], tuple.items[1]))
                }
            }
            return .dict(dict)
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            guard args.count >= 4, case let .storage(storage) = args[0], case let .int(offset) = args[1],
                  case let .tuple(sizeBox) = args[2], case let .tuple(strideBox) = args[3] else {
                throw fail("\(name): expected (storage, offset, size, stride, …)")
            }
            let size = try integers(sizeBox.items, "size"), stride = try integers(strideBox.items, "stride")
            return .tensor(try rebuildTensor(storage, offset: offset, size: size, stride: stride))
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard let first = args.first, case .tensor = first else { throw fail("\(name): expected a tensor") }
            return first
        case "torch.Size":
            guard args.count == 1, case .tuple = args[0] else { throw fail("torch.Size expects a tuple") }
            return args[0]
        case "_codecs.encode":
            guard let first = args.first, case let .string(text) = first else { throw fail("_codecs.encode expects a string") }
            // Protocol 2 pickles bytes as encode(latin-1 text, 'latin1'): one byte per scalar.
            return .bytes(text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
        case "torch.device":
            guard let first = args.first, case let .string(text) = first else { throw fail("torch.device expects a string") }
            return .string(text)
        default:
            // Storage types and dtypes are values, not callables.
            throw fail("global '\(name)' cannot be called")
        }
    }

    private func integers(_ items: [PickleObject], _ what: String) throws -> [Int] {
        guard items.count <= serializedMaximumRank else { throw fail("tensor \(what) has \(items.count) dimensions (at most \(serializedMaximumRank))") }
        return try items.map {
            guard case let .int(value) = $0 else { throw fail("tensor \(what) entries must be integers") }
            return value
        }
    }

    private func rebuildTensor(_ storage: PickledStorage, offset: Int, size: [Int], stride: [Int]) throws -> Tensor {
        guard size.count == stride.count else { throw fail("size \(size) and stride \(stride) differ in rank") }
        let elements = storage.byteCount / storage.dtype.byteSize
        guard offset >= 0, size.allSatisfy({ $0 >= 0 }), stride.allSatisfy({ $0 >= 0 }) else {
            throw SerializationError.outOfBounds(format: PickleMachine.format, context: "tensor with negative offset, size or stride (\(offset), \(size), \(stride))")
        }
        guard let count = CheckedSize.product(size) else { throw fail("tensor size \(size) overflows") }
        if count > 0 {
            var last = offset
            for (extent, step) in zip(size, stride) {
                guard let span = CheckedSize.multiply(extent - 1, step), let next = CheckedSize.add(last, span) else {
                    throw fail("tensor size \(size) with stride \(stride) overflows")
                }
                last = next
            }
            guard last < elements else {
                throw SerializationError.outOfBounds(format: PickleMachine.format, context: "tensor of size \(size), stride \(stride), offset \(offset) reaches element \(last) of a storage with \(elements)")
            }
        }
        return Tensor(storage: storage.storage, layout: Layout(shape: size, strides: stride, offset: offset), dtype: storage.dtype)
    }

    // MARK: Conversion to the public tree

    static func convert(_ object: PickleObject) throws -> PickleValue {
        var budget = maximumValues
        return try convert(object, depth: 0, budget: &budget)
    }

    private static func convert(_ object: PickleObject, depth: Int, budget: inout Int) throws -> PickleValue {
        guard depth <= maximumDepth else {
            throw SerializationError.malformed(format: format, message: "containers nested deeper than \(maximumDepth) (or a reference cycle)")
        }
        budget -= 1
        guard budget >= 0 else { throw SerializationError.malformed(format: format, message: "more than \(maximumValues) values (shared references are expanded)") }
        switch object {
        case .none: return .none
        case let .bool(value): return .bool(value)
        case let .int(value): return .int(value)
        case let .float(value): return .float(value)
        case let .string(value): return .string(value)
        case let .bytes(value): return .bytes(value)
        case let .tensor(value): return .tensor(value)
        case let .global(name): return .global(name)
        case .storage: throw SerializationError.malformed(format: format, message: "a bare storage outside a tensor")
        case let .tuple(tuple): return .tuple(try tuple.items.map { try convert($0, depth: depth + 1, budget: &budget) })
        case let .list(list): return .list(try list.items.map { try convert($0, depth: depth + 1, budget: &budget) })
        case let .dict(dict):
            return .dict(try dict.entries.map { (try convert($0.0, depth: depth + 1, budget: &budget),
                                                 try convert($0.1, depth: depth + 1, budget: &budget)) })
        }
    }
}
