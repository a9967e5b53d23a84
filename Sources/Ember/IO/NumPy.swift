import Foundation

/// NumPy's `.npy` (one array) and `.npz` (a zip of `.npy` files) formats.
///
///     try NumPy.save(x, to: URL(fileURLWithPath: "x.npy"))
///     let y = try NumPy.load(npy: URL(fileURLWithPath: "x.npy"))        // memory-mapped
///     try NumPy.saveArchive(["a": a, "b": b], to: url, compressed: true) // like np.savez_compressed
///     let arrays = try NumPy.loadArchive(from: url)
///
/// Reads header versions 1.0, 2.0 and 3.0, little- and big-endian data (big-endian is swapped
/// into a new buffer), C order (a view of the file) and Fortran order (a strided view: a
/// column-major `[m, n]` array is the transpose-shaped layout, with no copy).
public enum NumPy {
    static let format = "npy"

    /// NumPy's `descr` for a dtype (little-endian), or nil when NumPy has no such type.
    static func descr(of dtype: DType) -> String? {
        switch dtype {
        case .float32: return "<f4"
        case .float64: return "<f8"
        case .float16: return "<f2"
        case .int32: return "<i4"
        case .int64: return "<i8"
        case .uint8: return "|u1"
        case .bool: return "|b1"
        case .bfloat16: return nil
        }
    }

    /// Parses a descr such as `<f4` or `>i8` into a dtype and whether the data is big-endian.
    static func parseDescr(_ text: String) -> (dtype: DType, bigEndian: Bool)? {
        guard text.count == 3, let order = text.first else { return nil }
        let code = String(text.dropFirst())
        let dtype: DType
        switch code {
        case "f4": dtype = .float32
        case "f8": dtype = .float64
        case "f2": dtype = .float16
        case "i4": dtype = .int32
        case "i8": dtype = .int64
        case "u1": dtype = .uint8
        case "b1": dtype = .bool
        default: return nil
        }
        switch order {
        case "<", "=": return (dtype, false)
        case ">": return (dtype, true)
        case "|": return dtype.byteSize == 1 ? (dtype, false) : nil
        default: return nil
        }
    }

    // MARK: .npy reading

    /// Loads an `.npy` file, memory-mapped unless `mapped` is false (little-endian data with an
    /// aligned header is then a view of the file).
    public static func load(npy url: URL, mapped: Bool = true) throws -> Tensor {
        let bytes = mapped ? try FileBytes.map(url) : FileBytes(copying: try readFile(url))
        return try decodeArray(bytes, offset: 0, count: bytes.count, name: url.lastPathComponent)
    }

    /// Parses `.npy` bytes held in memory.
    public static func decode<C: Collection>(npy data: C) throws -> Tensor where C.Element == UInt8 {
        let bytes = FileBytes(copying: data)
        return try decodeArray(bytes, offset: 0, count: bytes.count, name: "array")
    }

    static func decodeArray(_ file: FileBytes, offset: Int, count: Int, name: String) throws -> Tensor {
        let region = UnsafeRawBufferPointer(rebasing: file.bytes[offset..<(offset + count)])
        var reader = ByteReader(region, format: format)
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59] // \x93NUMPY
        guard region.count >= 6, Array(region.prefix(6)) == magic else {
            if region.count < 6, Array(region) == Array(magic.prefix(region.count)) {
                throw SerializationError.truncated(format: format, context: "\(name): \(region.count) bytes is too short for the magic")
            }
            throw SerializationError.badMagic(format: format, found: describeBytes(region))
        }
        reader.position = 6
        let major = try reader.readByte("version")
        _ = try reader.readByte("version")
        let headerLength: Int
        switch major {
        case 1: headerLength = try reader.readUInt16("header length")
        case 2, 3: headerLength = try reader.readUInt32("header length")
        default: throw SerializationError.malformed(format: format, message: "\(name): unsupported format version \(major)")
        }
        guard headerLength <= reader.remaining else {
            throw SerializationError.outOfBounds(format: format, context: "\(name): header length \(headerLength) is past the end of the file (\(region.count) bytes)")
        }
        let headerBytes = try reader.readSlice(headerLength, "header")
        // Version 1 and 2 headers are latin-1, version 3 UTF-8; the keys and values we accept are ASCII.
        let header = String(decoding: headerBytes, as: UTF8.self)
        let (dtype, bigEndian, fortranOrder, shape) = try parseHeader(header, name: name)
        guard let elementCount = CheckedSize.product(shape), let byteCount = CheckedSize.multiply(elementCount, dtype.byteSize) else {
            throw SerializationError.malformed(format: format, message: "\(name): shape \(shape) overflows")
        }
        guard byteCount <= reader.remaining else {
            throw SerializationError.sizeMismatch(format: format, name: name, expectedBytes: byteCount, actualBytes: reader.remaining)
        }
        let dataOffset = offset + reader.position
        let storage: TensorStorage
        if bigEndian && dtype.byteSize > 1 {
            storage = TensorStorage(byteCount: byteCount)
            if byteCount > 0 {
                storage.pointer.copyMemory(from: file.bytes.baseAddress! + dataOffset, byteCount: byteCount)
                swapBytes(storage.pointer, count: elementCount, width: dtype.byteSize)
            }
        } else {
            storage = file.storage(offset: dataOffset, byteCount: byteCount, alignment: dtype.byteSize)
        }
        if dtype == .bool { try checkBooleans(storage, count: elementCount, name: name) }
        let layout: Layout
        if fortranOrder {
            var strides = [Int](repeating: 1, count: shape.count)
            for axis in shape.indices.dropFirst() { strides[axis] = strides[axis - 1] * max(shape[axis - 1], 1) }
            layout = Layout(shape: shape, strides: strides)
        } else {
            layout = Layout(contiguous: shape)
        }
        return Tensor(storage: storage, layout: layout, dtype: dtype)
    }

    /// Bool kernels assume 0 or 1 bytes; any other byte would make comparisons disagree.
    static func checkBooleans(_ storage: TensorStorage, count: Int, name: String) throws {
        let bytes = storage.pointer.assumingMemoryBound(to: UInt8.self)
        for i in 0..<count where bytes[i] > 1 {
            throw SerializationError.malformed(format: format, message: "\(name): bool element \(i) has byte value \(bytes[i])")
        }
    }

    static func parseHeader(_ header: String, name: String) throws -> (DType, Bool, Bool, [Int]) {
        var parser = PythonLiteralParser(text: Array(header.utf8), format: format)
        guard case let .dict(entries) = try parser.parse() else {
            throw SerializationError.malformed(format: format, message: "\(name): header is not a dict: \(header.prefix(80))")
        }
        var descr: String?, fortran: Bool?, shape: [Int]?
        for (key, value) in entries {
            switch (key, value) {
            case ("descr", .string(let text)): descr = text
            case ("descr", let other): throw SerializationError.unsupportedDType(format: format, dtype: "\(other)")
            case ("fortran_order", .bool(let flag)): fortran = flag
            case ("shape", .tuple(let sizes)):
                guard sizes.count <= serializedMaximumRank else {
                    throw SerializationError.malformed(format: format, message: "\(name): rank \(sizes.count) exceeds \(serializedMaximumRank)")
                }
                shape = try sizes.map {
                    guard case let .int(size) = $0, size >= 0 else {
                        throw SerializationError.malformed(format: format, message: "\(name): shape entries must be non-negative integers")
                    }
                    return size
                }
            default: throw SerializationError.malformed(format: format, message: "\(name): unexpected header entry '\(key)'")
            }
        }
        guard let descr, let fortran, let shape else {
            throw SerializationError.malformed(format: format, message: "\(name): header needs 'descr', 'fortran_order' and 'shape'")
        }
        guard let (dtype, bigEndian) = parseDescr(descr) else {
            throw SerializationError.unsupportedDType(format: format, dtype: descr)
        }
        return (dtype, bigEndian, fortran, shape)
    }

    // MARK: .npy writing

    /// The bytes of an `.npy` file (version 1.0 unless the header needs 2.0; C order; little-endian).
    public static func encode(_ tensor: Tensor) throws -> [UInt8] {
        var bytes = try header(for: tensor)
        withContiguousBytes(of: tensor) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// Writes `tensor` as an `.npy` file, atomically.
    public static func save(_ tensor: Tensor, to url: URL) throws {
        let prefix = try header(for: tensor)
        try AtomicFileWriter.write(to: url) { writer in
            try writer.write(prefix)
            try withContiguousBytes(of: tensor) { try writer.write($0) }
        }
    }

    static func header(for tensor: Tensor) throws -> [UInt8] {
        guard let descr = descr(of: tensor.dtype) else {
            throw SerializationError.unsupportedDType(format: format, dtype: "\(tensor.dtype) (NumPy has no bfloat16; convert with .to(.float32))")
        }
        let shape = tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        var text = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }".utf8)
        // Pad with spaces and end with a newline so the data starts 64-byte aligned (NumPy's ARRAY_ALIGN).
        var prefixLength = 10
        var major: UInt8 = 1
        if text.count + 11 > 65535 { prefixLength = 12; major = 2 }
        let total = (prefixLength + text.count + 1 + 63) / 64 * 64
        text.append(contentsOf: repeatElement(UInt8(ascii: " "), count: total - prefixLength - text.count - 1))
        text.append(UInt8(ascii: "\n"))
        var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, major, 0]
        bytes.appendLittleEndian(UInt64(text.count), width: major == 1 ? 2 : 4)
        return bytes + text
    }

    // MARK: .npz

    /// Loads every `.npy` member of an `.npz` archive, keyed by member name without `.npy`, in
    /// archive order. Stored members are views of the (memory-mapped) file when aligned.
    public static func loadArchive(from url: URL, mapped: Bool = true) throws -> StateDict {
        try decodeArchive(mapped ? try FileBytes.map(url) : FileBytes(copying: try readFile(url)))
    }

    /// Parses `.npz` bytes held in memory.
    public static func decodeArchive<C: Collection>(npz data: C) throws -> StateDict where C.Element == UInt8 {
        try decodeArchive(FileBytes(copying: data))
    }

    static func decodeArchive(_ file: FileBytes) throws -> StateDict {
        let archive = try ZipArchive(file, format: "npz")
        var arrays = StateDict()
        for entry in archive.entries {
            let key = entry.name.hasSuffix(".npy") ? String(entry.name.dropLast(4)) : entry.name
            let (bytes, offset, count) = try archive.contents(of: entry)
            arrays[key] = try decodeArray(bytes, offset: offset, count: count, name: entry.name)
        }
        return arrays
    }

    /// Writes `arrays` as an `.npz` archive (`compressed` like `np.savez_compressed`), atomically.
    public static func saveArchive(_ arrays: StateDict, to url: URL, compressed: Bool = false) throws {
        let members = try arrays.map { ($0.name + ".npy", try encode($0.tensor)) }
        try AtomicFileWriter.write(to: url) { writer in
            var zip = ZipWriter(format: "npz")
            for (name, data) in members { try zip.add(name: name, data: data, compress: compressed, to: &writer) }
            try zip.finish(to: &writer)
        }
    }
}

/// The Python literals an `.npy` header contains: a dict of strings, booleans and a tuple of
/// integers. Anything else (structured dtypes as lists, nested objects) is reported, not evaluated.
enum PythonLiteral {
    case dict([(String, PythonLiteral)])
    case tuple([PythonLiteral])
    case string(String)
    case int(Int)
    case bool(Bool)
    case none
}

struct PythonLiteralParser {
    let text: [UInt8]
    let format: String
    var position = 0

    init(text: [UInt8], format: String) {
        self.text = text
        self.format = format
    }

    mutating func parse() throws -> PythonLiteral {
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard position == text.count else { throw error("unexpected text after the header dict") }
        return value
    }

    private func error(_ message: String) -> SerializationError {
        .malformed(format: format, message: "header at character \(position): \(message)")
    }

    private mutating func skipWhitespace() {
        while position < text.count, [0x20, 0x09, 0x0A, 0x0D].contains(text[position]) { position += 1 }
    }

    private mutating func parseValue(depth: Int) throws -> PythonLiteral {
        guard depth < 8 else { throw error("nesting too deep") }
        skipWhitespace()
        guard position < text.count else { throw error("unexpected end") }
        let byte = text[position]
        switch byte {
        case UInt8(ascii: "{"):
            position += 1
            var entries: [(String, PythonLiteral)] = []
            while true {
                skipWhitespace()
                guard position < text.count else { throw error("unterminated dict") }
                if text[position] == UInt8(ascii: "}") { position += 1; return .dict(entries) }
                guard case let .string(key) = try parseValue(depth: depth + 1) else { throw error("dict keys must be strings") }
                skipWhitespace()
                guard position < text.count, text[position] == UInt8(ascii: ":") else { throw error("expected ':'") }
                position += 1
                entries.append((key, try parseValue(depth: depth + 1)))
                skipWhitespace()
                guard position < text.count else { throw error("unterminated dict") }
                if text[position] == UInt8(ascii: ",") { position += 1 } else if text[position] != UInt8(ascii: "}") { throw error("expected ',' or '}'") }
            }
        case UInt8(ascii: "("), UInt8(ascii: "["):
            let close = byte == UInt8(ascii: "(") ? UInt8(ascii: ")") : UInt8(ascii: "]")
            position += 1
            var items: [PythonLiteral] = []
            while true {
                skipWhitespace()
                guard position < text.count else { throw error("unterminated tuple") }
                if text[position] == close { position += 1; return .tuple(items) }
                items.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                guard position < text.count else { throw error("unterminated tuple") }
                if text[position] == UInt8(ascii: ",") { position += 1 } else if text[position] != close { throw error("expected ',' or ')'") }
            }
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            position += 1
            let start = position
            while position < text.count, text[position] != byte {
                if text[position] == UInt8(ascii: "\\") { throw error("escapes are not supported in header strings") }
                position += 1
            }
            guard position < text.count else { throw error("unterminated string") }
            defer { position += 1 }
            return .string(String(decoding: text[start..<position], as: UTF8.self))
        default:
            let start = position
            while position < text.count, (0x30...0x39).contains(text[position]) || text[position] == UInt8(ascii: "-")
                    || (0x41...0x5A).contains(text[position]) || (0x61...0x7A).contains(text[position]) || text[position] == UInt8(ascii: "_") {
                position += 1
            }
            let word = String(decoding: text[start..<position], as: UTF8.self)
            switch word {
            case "True": return .bool(true)
            case "False": return .bool(false)
            case "None": return .none
            default:
                // NumPy may write "3L" for longs in old files.
                let digits = word.hasSuffix("L") ? String(word.dropLast()) : word
                guard let value = Int(digits) else { throw error("unexpected token '\(word.prefix(20))'") }
                return .int(value)
            }
        }
    }
}
