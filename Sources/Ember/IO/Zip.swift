import CEmberKernels

/// The subset of the zip format that .npz archives and PyTorch checkpoints use: stored and
/// deflated members, ZIP64 sizes and offsets (NumPy forces ZIP64 local headers), no
/// encryption, single disk. Every offset and size from the central directory is checked
/// against the file before use, and a deflated member may not claim more than DEFLATE's
/// maximum expansion (1032:1), so a small hostile file cannot make the reader allocate gigabytes.
struct ZipArchive {
    struct Entry {
        let name: String
        let method: Int
        let compressedSize: Int
        let uncompressedSize: Int
        let crc32: UInt32
        let localHeaderOffset: Int
    }

    let file: FileBytes
    let format: String
    private(set) var entries: [Entry] = []

    init(_ file: FileBytes, format: String) throws {
        self.file = file
        self.format = format
        let bytes = file.bytes
        guard bytes.count >= 22 else {
            if bytes.count >= 4, littleEndianValue(bytes, at: 0, width: 4) != 0x04034b50 {
                throw SerializationError.badMagic(format: format, found: describeBytes(bytes))
            }
            throw SerializationError.truncated(format: format, context: "\(bytes.count) bytes is too short for a zip archive")
        }
        // The end-of-central-directory record is in the last 22 + 65535 (comment) bytes.
        var eocd = -1
        var candidate = bytes.count - 22
        let lowest = max(0, bytes.count - 22 - 65535)
        while candidate >= lowest {
            if littleEndianValue(bytes, at: candidate, width: 4) == 0x06054b50 { eocd = candidate; break }
            candidate -= 1
        }
        guard eocd >= 0 else {
            if littleEndianValue(bytes, at: 0, width: 4) != 0x04034b50 {
                throw SerializationError.badMagic(format: format, found: describeBytes(bytes))
            }
            throw SerializationError.truncated(format: format, context: "no end-of-central-directory record (zip archive cut short)")
        }
        var entryCount = Int(littleEndianValue(bytes, at: eocd + 10, width: 2))
        var directorySize = Int(littleEndianValue(bytes, at: eocd + 12, width: 4))
        var directoryOffset = Int(littleEndianValue(bytes, at: eocd + 16, width: 4))
        var directoryEnd = eocd
        if entryCount == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
            // ZIP64: a locator just before the record points at the ZIP64 end record.
            guard eocd >= 20, littleEndianValue(bytes, at: eocd - 20, width: 4) == 0x07064b50 else {
                throw SerializationError.malformed(format: format, message: "ZIP64 sizes without a ZIP64 locator")
            }
            let recordOffset = littleEndianValue(bytes, at: eocd - 12, width: 8)
            guard recordOffset <= UInt64(eocd - 20), eocd - 20 - Int(recordOffset) >= 56,
                  littleEndianValue(bytes, at: Int(recordOffset), width: 4) == 0x06064b50 else {
                throw SerializationError.outOfBounds(format: format, context: "ZIP64 end record offset \(recordOffset) is invalid")
            }
            let record = Int(recordOffset)
            let count64 = littleEndianValue(bytes, at: record + 32, width: 8)
            let size64 = littleEndianValue(bytes, at: record + 40, width: 8)
            let offset64 = littleEndianValue(bytes, at: record + 48, width: 8)
            guard count64 <= UInt64(bytes.count), size64 <= UInt64(bytes.count), offset64 <= UInt64(bytes.count) else {
                throw SerializationError.outOfBounds(format: format, context: "ZIP64 directory sizes exceed the file")
            }
            entryCount = Int(count64); directorySize = Int(size64); directoryOffset = Int(offset64)
            directoryEnd = record
        }
        guard directoryOffset <= directoryEnd, directorySize <= directoryEnd - directoryOffset else {
            throw SerializationError.outOfBounds(format: format, context: "central directory [\(directoryOffset), +\(directorySize)] lies outside the file (\(bytes.count) bytes)")
        }
        guard entryCount <= directorySize / 46 else {
            throw SerializationError.outOfBounds(format: format, context: "\(entryCount) entries cannot fit a \(directorySize)-byte central directory")
        }
        let directory = UnsafeRawBufferPointer(rebasing: bytes[directoryOffset..<(directoryOffset + directorySize)])
        var reader = ByteReader(directory, format: format)
        var names = Set<String>()
        entries.reserveCapacity(entryCount)
        for index in 0..<entryCount {
            let context = "central directory entry \(index)"
            guard try reader.readUInt32(context) == 0x02014b50 else {
                throw SerializationError.malformed(format: format, message: "bad signature in \(context)")
            }
            _ = try reader.readSlice(4, context)
            let flags = try reader.readUInt16(context)
            let method = try reader.readUInt16(context)
            _ = try reader.readSlice(4, context)
            let crc = UInt32(try reader.readUInt32(context))
            var compressed = try reader.readUInt32(context)
            var uncompressed = try reader.readUInt32(context)
            let nameLength = try reader.readUInt16(context)
            let extraLength = try reader.readUInt16(context)
            let commentLength = try reader.readUInt16(context)
            _ = try reader.readSlice(8, context)
            var localOffset = try reader.readUInt32(context)
            let nameBytes = try reader.readSlice(nameLength, context + " name")
            let extra = try reader.readSlice(extraLength, context + " extra field")
            _ = try reader.readSlice(commentLength, context + " comment")
            let name = String(decoding: nameBytes, as: UTF8.self)
            if compressed == 0xFFFF_FFFF || uncompressed == 0xFFFF_FFFF || localOffset == 0xFFFF_FFFF {
                var extraReader = ByteReader(extra, format: format)
                var found = false
                while extraReader.remaining >= 4 {
                    let id = try extraReader.readUInt16("extra field id")
                    let size = try extraReader.readUInt16("extra field size")
                    var field = ByteReader(try extraReader.readSlice(size, "extra field of '\(name)'"), format: format)
                    guard id == 0x0001 else { continue }
                    found = true
                    func next(_ what: String) throws -> Int {
                        let value = try field.readLittleEndian(8, "ZIP64 \(what) of '\(name)'")
                        guard value <= UInt64(bytes.count) * 1032 + 1024, value <= UInt64(Int.max / 2) else {
                            throw SerializationError.outOfBounds(format: format, context: "ZIP64 \(what) \(value) of '\(name)' is implausible for a \(bytes.count)-byte file")
                        }
                        return Int(value)
                    }
                    if uncompressed == 0xFFFF_FFFF { uncompressed = try next("uncompressed size") }
                    if compressed == 0xFFFF_FFFF { compressed = try next("compressed size") }
                    if localOffset == 0xFFFF_FFFF { localOffset = try next("local header offset") }
                }
                guard found else { throw SerializationError.malformed(format: format, message: "'\(name)' needs a ZIP64 extra field") }
            }
            guard flags & 1 == 0 else { throw SerializationError.malformed(format: format, message: "'\(name)' is encrypted") }
            guard method == 0 || method == 8 else {
                throw SerializationError.malformed(format: format, message: "'\(name)' uses compression method \(method) (only stored and deflate are supported)")
            }
            guard names.insert(name).inserted else { throw SerializationError.malformed(format: format, message: "duplicate member '\(name)'") }
            entries.append(Entry(name: name, method: method, compressedSize: compressed, uncompressedSize: uncompressed,
                                 crc32: crc, localHeaderOffset: localOffset))
        }
    }

    func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// Where the member's data starts and how many bytes it occupies in the file.
    func dataRange(of entry: Entry) throws -> (offset: Int, count: Int) {
        let bytes = file.bytes
        let header = entry.localHeaderOffset
        guard header <= bytes.count - 30, bytes.count >= 30 else {
            throw SerializationError.outOfBounds(format: format, context: "local header of '\(entry.name)' at \(header) is past the end of the file")
        }
        guard littleEndianValue(bytes, at: header, width: 4) == 0x04034b50 else {
            throw SerializationError.malformed(format: format, message: "bad local header signature for '\(entry.name)'")
        }
        let nameLength = Int(littleEndianValue(bytes, at: header + 26, width: 2))
        let extraLength = Int(littleEndianValue(bytes, at: header + 28, width: 2))
        let start = header + 30 + nameLength + extraLength
        guard start <= bytes.count, entry.compressedSize <= bytes.count - start else {
            throw SerializationError.outOfBounds(format: format, context: "data of '\(entry.name)' (\(entry.compressedSize) bytes at \(start)) extends past the end of the file (\(bytes.count) bytes)")
        }
        return (start, entry.compressedSize)
    }

    /// The member's uncompressed bytes: the archive itself (a slice, no copy) for stored members,
    /// a fresh buffer for deflated ones. The CRC-32 is checked either way.
    func contents(of entry: Entry) throws -> (file: FileBytes, offset: Int, count: Int) {
        let (offset, count) = try dataRange(of: entry)
        let source = UnsafeRawBufferPointer(rebasing: file.bytes[offset..<(offset + count)])
        let result: (file: FileBytes, offset: Int, count: Int)
        if entry.method == 0 {
            guard entry.uncompressedSize == count else {
                throw SerializationError.sizeMismatch(format: format, name: entry.name, expectedBytes: entry.uncompressedSize, actualBytes: count)
            }
            result = (file, offset, count)
        } else {
            guard entry.uncompressedSize <= count * 1032 + 1024 else {
                throw SerializationError.outOfBounds(format: format, context: "'\(entry.name)' claims \(entry.uncompressedSize) bytes from \(count) compressed bytes (beyond DEFLATE's maximum ratio)")
            }
            var output = [UInt8](repeating: 0, count: entry.uncompressedSize)
            var produced = 0, used = 0
            let status = output.withUnsafeMutableBytes { out in
                ember_inflate(source.baseAddress?.assumingMemoryBound(to: UInt8.self), count,
                              out.baseAddress?.assumingMemoryBound(to: UInt8.self), out.count, &produced, &used)
            }
            guard status == EMBER_INFLATE_OK else {
                throw SerializationError.malformed(format: format, message: "cannot inflate '\(entry.name)': \(Deflate.describe(status))")
            }
            guard produced == entry.uncompressedSize else {
                throw SerializationError.sizeMismatch(format: format, name: entry.name, expectedBytes: entry.uncompressedSize, actualBytes: produced)
            }
            result = (FileBytes(copying: output), 0, produced)
        }
        let crc = ember_crc32(0, result.file.bytes.baseAddress.map { ($0 + result.offset).assumingMemoryBound(to: UInt8.self) }, result.count)
        guard crc == entry.crc32 else {
            throw SerializationError.malformed(format: format, message: "CRC-32 mismatch in '\(entry.name)' (stored \(entry.crc32), computed \(crc))")
        }
        return result
    }
}

/// Builds a zip archive in memory-sized pieces and streams it to an atomic writer.
struct ZipWriter {
    private struct Record { let name: [UInt8]; let method: Int; let crc: UInt32; let compressed: Int; let uncompressed: Int; let offset: Int }
    private var records: [Record] = []
    private var offset = 0
    let format: String

    init(format: String) { self.format = format }

    mutating func add(name: String, data: [UInt8], compress: Bool, to writer: inout AtomicFileWriter) throws {
        let crc = data.withUnsafeBufferPointer { ember_crc32(0, $0.baseAddress, $0.count) }
        let payload = compress ? Deflate.compress(data) : data
        let nameBytes = Array(name.utf8)
        guard offset <= 0xFFFF_FFFE - 30 - nameBytes.count - payload.count, data.count < 0xFFFF_FFFF, records.count < 0xFFFF else {
            throw SerializationError.outOfBounds(format: format, context: "archive over 4 GiB or 65535 members needs ZIP64, which Ember does not write")
        }
        var header: [UInt8] = []
        header.appendLittleEndian(0x04034b50, width: 4)
        header.appendLittleEndian(20, width: 2)              // version needed: 2.0 (deflate)
        header.appendLittleEndian(0x0800, width: 2)          // flags: UTF-8 names
        header.appendLittleEndian(compress ? 8 : 0, width: 2)
        header.appendLittleEndian(0, width: 2)               // time 00:00
        header.appendLittleEndian(0x21, width: 2)            // date 1980-01-01: reproducible bytes
        header.appendLittleEndian(UInt64(crc), width: 4)
        header.appendLittleEndian(UInt64(payload.count), width: 4)
        header.appendLittleEndian(UInt64(data.count), width: 4)
        header.appendLittleEndian(UInt64(nameBytes.count), width: 2)
        header.appendLittleEndian(0, width: 2)
        header += nameBytes
        try writer.write(header)
        try writer.write(payload)
        records.append(Record(name: nameBytes, method: compress ? 8 : 0, crc: crc, compressed: payload.count,
                              uncompressed: data.count, offset: offset))
        offset += header.count + payload.count
    }

    func finish(to writer: inout AtomicFileWriter) throws {
        var directory: [UInt8] = []
        for record in records {
            directory.appendLittleEndian(0x02014b50, width: 4)
            directory.appendLittleEndian(20, width: 2)        // made by: 2.0, MS-DOS attributes
            directory.appendLittleEndian(20, width: 2)
            directory.appendLittleEndian(0x0800, width: 2)
            directory.appendLittleEndian(UInt64(record.method), width: 2)
            directory.appendLittleEndian(0, width: 2)
            directory.appendLittleEndian(0x21, width: 2)
            directory.appendLittleEndian(UInt64(record.crc), width: 4)
            directory.appendLittleEndian(UInt64(record.compressed), width: 4)
            directory.appendLittleEndian(UInt64(record.uncompressed), width: 4)
            directory.appendLittleEndian(UInt64(record.name.count), width: 2)
            directory.appendLittleEndian(0, width: 2)         // extra
            directory.appendLittleEndian(0, width: 2)         // comment
            directory.appendLittleEndian(0, width: 2)         // disk
            directory.appendLittleEndian(0, width: 2)         // internal attributes
            directory.appendLittleEndian(0, width: 4)         // external attributes
            directory.appendLittleEndian(UInt64(record.offset), width: 4)
            directory += record.name
        }
        guard offset + directory.count < 0xFFFF_FFFF else {
            throw SerializationError.outOfBounds(format: format, context: "archive over 4 GiB needs ZIP64, which Ember does not write")
        }
        directory.appendLittleEndian(0x06054b50, width: 4)
        directory.appendLittleEndian(0, width: 4)              // disk numbers
        directory.appendLittleEndian(UInt64(records.count), width: 2)
        directory.appendLittleEndian(UInt64(records.count), width: 2)
        directory.appendLittleEndian(UInt64(directory.count - 4 - 4 - 4), width: 4)
        directory.appendLittleEndian(UInt64(offset), width: 4)
        directory.appendLittleEndian(0, width: 2)
        try writer.write(directory)
    }
}

extension Array where Element == UInt8 {
    mutating func appendLittleEndian(_ value: UInt64, width: Int) {
        for i in 0..<width { append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
    }
}

/// Swift entry points to the C DEFLATE codec.
public enum Deflate {
    /// Raw DEFLATE compression (fixed Huffman codes with LZ77 matching; `level` 0 stores).
    ///
    ///     let packed = Deflate.compress(Array("hello hello hello".utf8))
    public static func compress(_ data: [UInt8], level: Int = 6) -> [UInt8] {
        let bound = ember_deflate_bound(data.count)
        var output = [UInt8](repeating: 0, count: bound)
        let written = data.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                ember_deflate(input.baseAddress, input.count, Int32(level), out.baseAddress, out.count)
            }
        }
        precondition(written > 0, "ember_deflate: output bound too small")
        output.removeSubrange(written...)
        return output
    }

    /// Raw DEFLATE decompression of a stream expected to produce at most `maximumSize` bytes.
    public static func decompress(_ data: [UInt8], maximumSize: Int) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: maximumSize)
        var produced = 0, used = 0
        let status = data.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                ember_inflate(input.baseAddress, input.count, out.baseAddress, out.count, &produced, &used)
            }
        }
        guard status == EMBER_INFLATE_OK else { throw SerializationError.malformed(format: "deflate", message: describe(status)) }
        output.removeSubrange(produced...)
        return output
    }

    /// CRC-32 as zip and PNG compute it.
    public static func crc32(_ data: [UInt8]) -> UInt32 {
        data.withUnsafeBufferPointer { ember_crc32(0, $0.baseAddress, $0.count) }
    }

    static func describe(_ status: ember_inflate_status) -> String {
        switch status {
        case EMBER_INFLATE_OK: return "ok"
        case EMBER_INFLATE_TRUNCATED: return "compressed data is truncated"
        case EMBER_INFLATE_OUTPUT_FULL: return "data inflates beyond its declared size"
        case EMBER_INFLATE_BAD_BLOCK_TYPE: return "invalid block type"
        case EMBER_INFLATE_BAD_STORED_LENGTH: return "stored block length check failed"
        case EMBER_INFLATE_BAD_CODE_LENGTHS: return "invalid Huffman code lengths"
        case EMBER_INFLATE_BAD_SYMBOL: return "invalid Huffman code"
        case EMBER_INFLATE_BAD_DISTANCE: return "back-reference before the start of the data"
        default: return "unknown error \(status.rawValue)"
        }
    }
}
