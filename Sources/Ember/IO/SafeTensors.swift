import Foundation

/// Reading and writing the safetensors format (Hugging Face): an 8-byte little-endian header
/// length, a JSON header naming each tensor's dtype, shape and byte range, then the raw
/// little-endian data.
///
///     try SafeTensors.save(model.stateDict(), to: url, metadata: ["epoch": "3"])
///     let file = try SafeTensors.load(from: url)   // memory-mapped: tensors view the file
///     file.tensors["fc.weight"]; file.metadata["epoch"]
///
/// The reader follows the reference implementation's validation: the header is at most
/// 100 MB of JSON, every byte range lies inside the data and matches shape × dtype size, and
/// the ranges tile the data exactly (no gaps, no overlaps).
public enum SafeTensors {
    /// The contents of a safetensors file.
    public struct Contents {
        /// The tensors, in the order of their data in the file.
        public var tensors: StateDict
        /// The `__metadata__` string map (empty when absent).
        public var metadata: [String: String]
    }

    static let format = "safetensors"
    /// The reference implementation's limit on the JSON header.
    static let maximumHeaderLength = 100_000_000

    /// The header's name for each dtype.
    static func name(of dtype: DType) -> String {
        switch dtype {
        case .float64: return "F64"
        case .float32: return "F32"
        case .float16: return "F16"
        case .bfloat16: return "BF16"
        case .int64: return "I64"
        case .int32: return "I32"
        case .uint8: return "U8"
        case .bool: return "BOOL"
        }
    }

    static func dtype(named name: String) -> DType? {
        DType.allCases.first { self.name(of: $0) == name }
    }

    /// The position of a dtype in the reference implementation's `Dtype` enum, which orders
    /// tensors on write (largest first, so every tensor stays aligned to its element size).
    static func writeRank(of dtype: DType) -> Int {
        switch dtype {
        case .bool: return 0
        case .uint8: return 1
        case .float16: return 2
        case .bfloat16: return 3
        case .int32: return 4
        case .float32: return 5
        case .float64: return 6
        case .int64: return 7
        }
    }

    // MARK: Reading

    /// Memory-maps and parses the file at `url`; the tensors view the mapping (no copy) and keep
    /// it alive. Pass `mapped: false` to read the file into memory instead.
    public static func load(from url: URL, mapped: Bool = true) throws -> Contents {
        let bytes = mapped ? try FileBytes.map(url) : FileBytes(copying: try readFile(url))
        return try decode(bytes)
    }

    /// Parses safetensors bytes held in memory (the tensors own a copy).
    public static func decode<C: Collection>(_ data: C) throws -> Contents where C.Element == UInt8 {
        try decode(FileBytes(copying: data))
    }

    static func decode(_ file: FileBytes) throws -> Contents {
        let bytes = file.bytes
        var reader = ByteReader(bytes, format: format)
        let headerLength64 = try reader.readLittleEndian(8, "header length")
        guard headerLength64 <= UInt64(maximumHeaderLength) else {
            throw SerializationError.outOfBounds(format: format, context: "header length \(headerLength64) exceeds the 100 MB limit")
        }
        let headerLength = Int(headerLength64)
        guard headerLength <= reader.remaining else {
            throw SerializationError.outOfBounds(format: format, context: "header length \(headerLength) is past the end of the file (\(bytes.count) bytes)")
        }
        let headerBytes = try reader.readSlice(headerLength, "header")
        guard headerBytes.first == UInt8(ascii: "{") else {
            throw SerializationError.badMagic(format: format, found: describeBytes(headerBytes))
        }
        guard case let .object(members) = try JSONParser.parse(headerBytes, format: format) else {
            throw SerializationError.malformed(format: format, message: "header is not a JSON object")
        }
        let dataStart = reader.position
        let dataLength = bytes.count - dataStart

        var metadata: [String: String] = [:]
        var entries: [(name: String, dtype: DType, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in members {
            if name == "__metadata__" {
                guard case let .object(pairs) = value else {
                    throw SerializationError.malformed(format: format, message: "__metadata__ must be an object of strings")
                }
                for (key, item) in pairs {
                    guard case let .string(text) = item else {
                        throw SerializationError.malformed(format: format, message: "__metadata__ value for '\(key)' is not a string")
                    }
                    metadata[key] = text
                }
                continue
            }
            entries.append(try parseEntry(name: name, value: value, dataLength: dataLength))
        }
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var expectedBegin = 0
        for entry in entries {
            guard entry.begin == expectedBegin else {
                throw SerializationError.outOfBounds(format: format, context: "tensor '\(entry.name)' starts at data offset \(entry.begin), expected \(expectedBegin) (byte ranges must tile the data without gaps or overlaps)")
            }
            expectedBegin = entry.end
        }
        guard expectedBegin == dataLength else {
            throw SerializationError.outOfBounds(format: format, context: "tensors cover \(expectedBegin) bytes of data but the file holds \(dataLength)")
        }
        var tensors = StateDict()
        for entry in entries {
            let storage = file.storage(offset: dataStart + entry.begin, byteCount: entry.end - entry.begin,
                                       alignment: entry.dtype.byteSize)
            tensors[entry.name] = Tensor(storage: storage, layout: Layout(contiguous: entry.shape), dtype: entry.dtype)
        }
        return Contents(tensors: tensors, metadata: metadata)
    }

    private static func parseEntry(name: String, value: JSONValue, dataLength: Int) throws
        -> (name: String, dtype: DType, shape: [Int], begin: Int, end: Int) {
        func fail(_ message: String) -> SerializationError {
            .malformed(format: format, message: "tensor '\(name)': \(message)")
        }
        guard case let .object(fields) = value else { throw fail("entry is not an object") }
        var dtypeName: String?, shapeValue: JSONValue?, offsetsValue: JSONValue?
        for (key, field) in fields {
            switch key {
            case "dtype":
                guard case let .string(text) = field else { throw fail("dtype is not a string") }
                dtypeName = text
            case "shape": shapeValue = field
            case "data_offsets": offsetsValue = field
            default: throw fail("unknown field '\(key)'")
            }
        }
        guard let dtypeName else { throw fail("missing dtype") }
        guard let dtype = dtype(named: dtypeName) else { throw SerializationError.unsupportedDType(format: format, dtype: dtypeName) }
        guard case let .array(shapeItems) = shapeValue else { throw fail("missing or invalid shape") }
        guard shapeItems.count <= Int(serializedMaximumRank) else { throw fail("rank \(shapeItems.count) exceeds \(serializedMaximumRank)") }
        let shape = try shapeItems.map { item -> Int in
            guard let size = item.integer, size >= 0 else { throw fail("shape entries must be non-negative integers") }
            return size
        }
        guard case let .array(offsetItems) = offsetsValue, offsetItems.count == 2,
              let begin = offsetItems[0].integer, let end = offsetItems[1].integer else {
            throw fail("data_offsets must be two integers")
        }
        guard begin >= 0, begin <= end, end <= dataLength else {
            throw SerializationError.outOfBounds(format: format, context: "tensor '\(name)': data_offsets [\(begin), \(end)] lie outside the data (\(dataLength) bytes)")
        }
        guard let count = CheckedSize.product(shape), let byteCount = CheckedSize.multiply(count, dtype.byteSize) else {
            throw fail("shape \(shape) overflows")
        }
        guard byteCount == end - begin else {
            throw SerializationError.sizeMismatch(format: format, name: name, expectedBytes: byteCount, actualBytes: end - begin)
        }
        return (name, dtype, shape, begin, end)
    }

    // MARK: Writing

    /// Writes `tensors` atomically (temporary file, fsync, rename). Tensors are ordered as the
    /// reference implementation orders them (dtype, largest first, then name), so the same
    /// state always gives the same bytes.
    public static func save(_ tensors: StateDict, to url: URL, metadata: [String: String]? = nil) throws {
        let plan = try layout(tensors, metadata: metadata)
        try AtomicFileWriter.write(to: url) { writer in
            try writer.write(plan.prefix)
            for tensor in plan.order { try withContiguousBytes(of: tensor) { try writer.write($0) } }
        }
    }

    /// The bytes of a safetensors file holding `tensors`.
    public static func encode(_ tensors: StateDict, metadata: [String: String]? = nil) throws -> [UInt8] {
        let plan = try layout(tensors, metadata: metadata)
        var bytes = plan.prefix
        for tensor in plan.order { withContiguousBytes(of: tensor) { bytes.append(contentsOf: $0) } }
        return bytes
    }

    private static func layout(_ tensors: StateDict, metadata: [String: String]?) throws -> (prefix: [UInt8], order: [Tensor]) {
        let entries = tensors.map { ($0.name, $0.tensor) }.sorted { a, b in
            let ra = writeRank(of: a.1.dtype), rb = writeRank(of: b.1.dtype)
            if ra != rb { return ra > rb }
            return Array(a.0.utf8).lexicographicallyPrecedes(Array(b.0.utf8))
        }
        var header = "{"
        var parts: [String] = []
        if let metadata {
            // The reference writes a HashMap (unordered); sorted keys keep files reproducible.
            let pairs = metadata.keys.sorted().map { "\(JSONWriter.quoted($0)):\(JSONWriter.quoted(metadata[$0]!))" }
            parts.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for (name, tensor) in entries {
            guard name != "__metadata__" else {
                throw SerializationError.malformed(format: format, message: "a tensor cannot be named __metadata__")
            }
            let byteCount = tensor.count * tensor.dtype.byteSize
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            parts.append("\(JSONWriter.quoted(name)):{\"dtype\":\"\(self.name(of: tensor.dtype))\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + byteCount)]}")
            offset += byteCount
        }
        header += parts.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        headerBytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - headerBytes.count % 8) % 8))
        var prefix: [UInt8] = []
        prefix.reserveCapacity(8 + headerBytes.count)
        for i in 0..<8 { prefix.append(UInt8(truncatingIfNeeded: UInt64(headerBytes.count) >> (8 * UInt64(i)))) }
        prefix += headerBytes
        return (prefix, entries.map(\.1))
    }
}

/// Calls `body` with the row-major bytes of `tensor` (copying only when it is not contiguous).
func withContiguousBytes<R>(of tensor: Tensor, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    let source = tensor.isContiguous ? tensor : withoutGrad { tensor.contiguous() }
    return try withExtendedLifetime(source) {
        try body(UnsafeRawBufferPointer(start: source.baseAddress, count: source.count * source.dtype.byteSize))
    }
}

/// Reads a whole file (used when memory mapping is not wanted).
func readFile(_ url: URL) throws -> [UInt8] {
    do { return Array(try Data(contentsOf: url)) } catch {
        throw SerializationError.io(path: url.path, message: "\(error.localizedDescription)")
    }
}

/// Ember's limit on tensor rank, from the C kernels.
let serializedMaximumRank = 25
