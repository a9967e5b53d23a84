/// A cursor over bytes that checks every read against what is left, so parsers of untrusted
/// files throw `SerializationError.truncated` instead of reading past the end.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    let format: String

    init(_ bytes: UnsafeRawBufferPointer, format: String, position: Int = 0) {
        self.bytes = bytes
        self.format = format
        self.position = position
    }

    var remaining: Int { bytes.count - position }
    var isAtEnd: Bool { position >= bytes.count }

    mutating func require(_ count: Int, _ context: @autoclosure () -> String) throws {
        guard count >= 0, count <= remaining else {
            throw SerializationError.truncated(format: format, context: "\(context()): needs \(count) bytes at offset \(position), \(max(remaining, 0)) left")
        }
    }

    mutating func readByte(_ context: @autoclosure () -> String = "byte") throws -> UInt8 {
        try require(1, context())
        defer { position += 1 }
        return bytes[position]
    }

    /// A little-endian unsigned integer of `width` bytes (at most 8).
    mutating func readLittleEndian(_ width: Int, _ context: @autoclosure () -> String) throws -> UInt64 {
        try require(width, context())
        var value: UInt64 = 0
        for i in 0..<width { value |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += width
        return value
    }

    mutating func readUInt16(_ context: @autoclosure () -> String) throws -> Int { Int(try readLittleEndian(2, context())) }
    mutating func readUInt32(_ context: @autoclosure () -> String) throws -> Int { Int(try readLittleEndian(4, context())) }

    /// A length-prefixed region; the caller has already read the length.
    mutating func readSlice(_ count: Int, _ context: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        try require(count, context())
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)])
    }

    mutating func readBytes(_ count: Int, _ context: @autoclosure () -> String) throws -> [UInt8] {
        Array(try readSlice(count, context()))
    }

    mutating func readString(_ count: Int, _ context: @autoclosure () -> String) throws -> String {
        let slice = try readSlice(count, context())
        guard let string = String(validating: slice, as: UTF8.self) else {
            throw SerializationError.malformed(format: format, message: "\(context()) is not valid UTF-8")
        }
        return string
    }
}

/// Reads a little-endian integer at `offset` of a buffer the caller has bounds-checked.
@inline(__always)
func littleEndianValue(_ bytes: UnsafeRawBufferPointer, at offset: Int, width: Int) -> UInt64 {
    var value: UInt64 = 0
    for i in 0..<width { value |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
    return value
}

/// Short printable rendering of leading bytes for "bad magic" messages.
func describeBytes(_ bytes: UnsafeRawBufferPointer, count: Int = 8) -> String {
    let shown = bytes.prefix(count)
    if shown.isEmpty { return "an empty file" }
    return shown.map { byte in
        (0x20...0x7E).contains(byte) ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16).leftPadded(to: 2)
    }.joined().debugDescription
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
