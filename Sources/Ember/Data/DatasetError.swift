import CEmberKernels
import Foundation

/// Why a dataset could not be read. Every case names the file and what is wrong with it.
///
///     do { _ = try Datasets.mnist(directory: url) }
///     catch let error as DatasetError { print(error) }   // "…/train-images-idx3-ubyte: file not found (also tried …gz)"
public enum DatasetError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file does not exist (or cannot be opened).
    case missingFile(path: String, message: String)
    /// The file exists but its contents are not what the format requires.
    case malformed(path: String, message: String)
    /// A sample could not be read (a dataset implementation's own failure).
    case sample(index: Int, message: String)

    public var description: String {
        switch self {
        case let .missingFile(path, message): return "\(path): \(message)"
        case let .malformed(path, message): return "\(path): \(message)"
        case let .sample(index, message): return "sample \(index): \(message)"
        }
    }
}

/// Reading whole files, gunzipping them when they are gzip streams.
enum DataFile {
    /// The bytes of `url`, decompressed when the file starts with the gzip magic number.
    static func read(_ url: URL) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DatasetError.missingFile(path: url.path, message: "file not found or unreadable")
        }
        let bytes = [UInt8](data)
        return bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b ? try gunzip(bytes, path: url.path) : bytes
    }

    /// The first of `names` that exists in `directory` (each also tried with `.gz`).
    static func locate(_ names: [String], in directory: URL) throws -> URL {
        for name in names {
            for candidate in [name, name + ".gz"] {
                let url = directory.appendingPathComponent(candidate)
                if FileManager.default.fileExists(atPath: url.path) { return url }
            }
        }
        throw DatasetError.missingFile(path: directory.appendingPathComponent(names[0]).path,
                                       message: "file not found (also tried \(names.count > 1 ? names.dropFirst().joined(separator: ", ") + " and " : "")'.gz')")
    }

    /// Decompresses a gzip stream (RFC 1952): header, raw DEFLATE (the io layer's C inflate),
    /// then CRC-32 and length, both checked. Concatenated members are decoded one after another.
    static func gunzip(_ bytes: [UInt8], path: String) throws -> [UInt8] {
        func fail(_ message: String) -> DatasetError { .malformed(path: path, message: "invalid gzip data: \(message)") }
        var output: [UInt8] = []
        var start = 0
        while start < bytes.count {
            guard bytes.count - start >= 18 else { throw fail("truncated (\(bytes.count - start) bytes left for a member)") }
            guard bytes[start] == 0x1f && bytes[start + 1] == 0x8b else { throw fail("bad magic number") }
            guard bytes[start + 2] == 8 else { throw fail("unknown compression method \(bytes[start + 2])") }
            let flags = bytes[start + 3]
            var position = start + 10
            func need(_ n: Int) throws { if position + n > bytes.count { throw fail("truncated header") } }
            if flags & 0x04 != 0 {   // FEXTRA
                try need(2)
                position += 2 + Int(bytes[position]) | Int(bytes[position + 1]) << 8
            }
            for flag in [UInt8(0x08), 0x10] where flags & flag != 0 {   // FNAME, FCOMMENT: zero-terminated
                while true { try need(1); position += 1; if bytes[position - 1] == 0 { break } }
            }
            if flags & 0x02 != 0 { position += 2 }   // FHCRC
            try need(8)
            let trailer = bytes.count - 8
            // ISIZE of this member: for the common single-member file it is the last 4 bytes.
            func littleEndian(_ at: Int) -> UInt32 { (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * UInt32($1)) } }
            let expectedSize = Int(littleEndian(trailer + 4))
            var produced = 0, used = 0
            var member = [UInt8](repeating: 0, count: max(expectedSize, 1))
            var status = bytes.withUnsafeBufferPointer { input in
                member.withUnsafeMutableBufferPointer { out in
                    ember_inflate(input.baseAddress! + position, bytes.count - position, out.baseAddress!, out.count, &produced, &used)
                }
            }
            if status == EMBER_INFLATE_OUTPUT_FULL {   // output full: multi-member file whose last ISIZE is not this member's; grow
                var capacity = max(bytes.count * 8, 1 << 20)
                while status == EMBER_INFLATE_OUTPUT_FULL && capacity < 1 << 34 {
                    member = [UInt8](repeating: 0, count: capacity)
                    status = bytes.withUnsafeBufferPointer { input in
                        member.withUnsafeMutableBufferPointer { out in
                            ember_inflate(input.baseAddress! + position, bytes.count - position, out.baseAddress!, out.count, &produced, &used)
                        }
                    }
                    capacity *= 4
                }
            }
            guard status == EMBER_INFLATE_OK else { throw fail(Deflate.describe(status)) }
            position += used
            guard position + 8 <= bytes.count else { throw fail("truncated (missing CRC-32 and length)") }
            member.removeSubrange(produced...)
            let crc = littleEndian(position), size = littleEndian(position + 4)
            guard crc == Deflate.crc32(member) else { throw fail("CRC-32 mismatch (corrupt data)") }
            guard size == UInt32(truncatingIfNeeded: member.count) else { throw fail("length mismatch") }
            output += member
            start = position + 8
            // Trailing zero padding is allowed after the last member.
            if bytes[start...].allSatisfy({ $0 == 0 }) { break }
        }
        return output
    }
}
