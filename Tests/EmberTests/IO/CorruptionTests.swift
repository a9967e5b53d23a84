import Foundation
import Testing
@testable import Ember

/// Hostile and damaged inputs: every reader must throw a SerializationError, never crash,
/// hang or allocate without bound.
@Suite("Corrupt and hostile inputs")
struct CorruptionTests {
    typealias Reader = @Sendable ([UInt8]) throws -> Void
    static let readers: [(file: String, read: Reader)] = [
        ("all_dtypes.safetensors", { _ = try SafeTensors.decode($0) }),
        ("npy_le_f4.npy", { _ = try NumPy.decode(npy: $0) }),
        ("npy_fortran_be_i8.npy", { _ = try NumPy.decode(npy: $0) }),
        ("npy_v3.npy", { _ = try NumPy.decode(npy: $0) }),
        ("arrays.npz", { _ = try NumPy.decodeArchive(npz: $0) }),
        ("arrays_compressed.npz", { _ = try NumPy.decodeArchive(npz: $0) }),
        ("state_dict_p4.pth", { _ = try TorchCheckpoint.decode($0) }),
        ("checkpoint.pt", { _ = try TorchCheckpoint.decode($0) }),
    ]

    @Test(arguments: readers.map(\.file))
    func truncationAtEveryByteThrows(_ file: String) {
        let read = Self.readers.first { $0.file == file }!.read
        let bytes = IOFixtures.bytes(file)
        // Every byte of files up to 4 KB; for larger ones every 5th byte plus the whole tail
        // (the zip central directory), to keep debug-build test time reasonable.
        let lengths = bytes.count <= 4096 ? Array(0..<bytes.count)
            : Array(stride(from: 0, to: bytes.count - 1024, by: 5)) + Array((bytes.count - 1024)..<bytes.count)
        for length in lengths {
            expectSerializationError("\(file) truncated to \(length) bytes") { try read(Array(bytes[..<length])) }
        }
    }

    @Test(arguments: readers.map(\.file))
    func flippedBytesNeverCrash(_ file: String) {
        let read = Self.readers.first { $0.file == file }!.read
        let bytes = IOFixtures.bytes(file)
        // Every byte of small files; a stride through the larger ones (debug builds are slow).
        let step = max(1, bytes.count / 1500)
        for index in stride(from: 0, to: bytes.count, by: step) {
            for replacement in [bytes[index] ^ 0xFF, bytes[index] ^ 0x01, 0x00, 0x7F] where replacement != bytes[index] {
                var mutant = bytes
                mutant[index] = replacement
                do { try read(mutant) } catch is SerializationError {} catch {
                    Issue.record("\(file)[\(index)] = \(replacement): unexpected error \(error)")
                }
            }
        }
    }

    @Test func safetensorsHostileHeaders() {
        func file(header: String, data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
            var bytes: [UInt8] = []
            bytes.appendLittleEndian(length ?? UInt64(header.utf8.count), width: 8)
            return bytes + Array(header.utf8) + data
        }
        let cases: [(String, [UInt8], String)] = [
            ("huge header length", file(header: "{}", length: UInt64.max), "100 MB"),
            ("header past end", file(header: "{}", length: 1000), "past the end"),
            ("bad magic", file(header: "[1]"), "not a safetensors"),
            ("offsets past end", file(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#), "outside the data"),
            ("size mismatch", file(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), "needs 8 bytes"),
            ("unknown dtype", file(header: #"{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)), "'C64'"),
            ("shape overflow", file(header: #"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#), "overflows"),
            ("gap", file(header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#, data: [0, 0]), "tile"),
            ("deep nesting", file(header: "{\"a\":" + String(repeating: "[", count: 10_000)), "deeper"),
            ("duplicate key", file(header: #"{"a":1,"a":2}"#), "duplicate"),
            ("metadata not strings", file(header: #"{"__metadata__":{"k":1}}"#), "not a string"),
        ]
        for (name, bytes, fragment) in cases {
            do {
                _ = try SafeTensors.decode(bytes)
                Issue.record("\(name): no error")
            } catch {
                #expect("\(error)".contains(fragment), "\(name): \(error)")
            }
        }
    }

    @Test func npyHostileHeaders() {
        func npy(_ header: String, version: UInt8 = 1, data: [UInt8] = []) -> [UInt8] {
            var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0]
            bytes.appendLittleEndian(UInt64(header.utf8.count), width: version == 1 ? 2 : 4)
            return bytes + Array(header.utf8) + data
        }
        let cases: [(String, [UInt8], String)] = [
            ("bad magic", Array("PK\u{3}\u{4}nope".utf8), "not a npy"),
            ("unsupported dtype", npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }"), "'<c8'"),
            ("object dtype", npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"), "'|O'"),
            ("structured dtype", npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }"), "unsupported dtype"),
            ("data too short", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", data: [0]), "needs 16 bytes"),
            ("huge shape", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999, 99999999999), }"), "overflows"),
            ("header past end", Array(npy("{}", version: 2).prefix(8)) + [0xFF, 0xFF, 0, 0, 0x7B], "past the end"),
            ("bad version", npy("{}", version: 9), "version 9"),
            ("bad bool", npy("{'descr': '|b1', 'fortran_order': False, 'shape': (1,), }", data: [7]), "byte value 7"),
            ("code in header", npy("__import__('os').system('true')"), "header"),
        ]
        for (name, bytes, fragment) in cases {
            do {
                _ = try NumPy.decode(npy: bytes)
                Issue.record("\(name): no error")
            } catch {
                #expect("\(error)".contains(fragment), "\(name): \(error)")
            }
        }
    }

    @Test func zipHostileDirectories() throws {
        let valid = IOFixtures.bytes("arrays.npz")
        // A deflated member claiming a gigantic size must be refused before allocating it.
        var bomb = IOFixtures.bytes("arrays_compressed.npz")
        let directory = bomb.withUnsafeBytes { Int(littleEndianValue($0, at: bomb.count - 6, width: 4)) }
        for k in 0..<4 { bomb[directory + 24 + k] = 0xF0 }   // uncompressed size of the first entry
        expectSerializationError("zip bomb") { _ = try NumPy.decodeArchive(npz: bomb) }
        // Entry counts and directory offsets beyond the file.
        var many = valid
        many[many.count - 12] = 0xFF; many[many.count - 11] = 0xFE
        expectSerializationError("entry count") { _ = try NumPy.decodeArchive(npz: many) }
        var offset = valid
        for k in 0..<4 { offset[offset.count - 6 + k] = 0xFF }
        expectSerializationError("directory offset") { _ = try NumPy.decodeArchive(npz: offset) }
        expectSerializationError("not a zip") { _ = try NumPy.decodeArchive(npz: Array(repeating: 0x41, count: 100)) }
    }

    /// Runs a raw pickle through the machine with no storages.
    func runPickle(_ bytes: [UInt8]) throws -> PickleValue {
        try bytes.withUnsafeBytes { buffer in
            try PickleMachine.evaluate(buffer) { _ in throw SerializationError.malformed(format: "pickle", message: "no storages") }
        }
    }

    @Test func pickleHostileStreams() throws {
        let proto: [UInt8] = [0x80, 0x02]
        let cases: [(String, [UInt8], String)] = [
            ("os.system", proto + Array("cos\nsystem\n".utf8) + [0x29, 0x52, 0x2E], "'os.system'"),
            ("subprocess via STACK_GLOBAL", proto + [0x8C, 10] + Array("subprocess".utf8) + [0x8C, 5] + Array("Popen".utf8) + [0x93, 0x2E], "'subprocess.Popen'"),
            ("builtins.getattr", proto + Array("cbuiltins\ngetattr\n".utf8) + [0x2E], "'builtins.getattr'"),
            ("huge string", proto + [0x58, 0xFF, 0xFF, 0xFF, 0xFF, 0x41], "past the end"),
            ("huge bytes8", proto + [0x8E] + Array(repeating: 0xFF, count: 8), "past the end"),
            ("stack underflow", proto + [0x85, 0x2E], "underflow"),
            ("missing memo", proto + [0x68, 0x05, 0x2E], "never stored"),
            ("unknown opcode", proto + [0xFF], "unsupported opcode"),
            ("no STOP", proto + [0x4E], "truncated"),
            ("long too wide", proto + [0x8A, 0x20] + Array(repeating: 0, count: 32) + [0x2E], "64 bits"),
            ("calling a dtype", proto + Array("ctorch\nfloat32\n".utf8) + [0x29, 0x52, 0x2E], "cannot be called"),
            ("tensor from non-storage", proto + Array("ctorch._utils\n_rebuild_tensor_v2\n".utf8) + [0x28, 0x4E, 0x4B, 0, 0x29, 0x29, 0x89, 0x4E, 0x74, 0x52, 0x2E], "expected (storage"),
        ]
        for (name, bytes, fragment) in cases {
            do {
                _ = try runPickle(bytes)
                Issue.record("\(name): no error")
            } catch {
                #expect("\(error)".contains(fragment), "\(name): \(error)")
            }
        }
        // A list that contains itself, and 100k nested lists: refused by the depth cap, no stack overflow.
        let cycle = proto + [0x5D, 0x71, 0x00, 0x68, 0x00, 0x61, 0x2E] // [] memo0; get0; append
        expectSerializationError("cycle") { _ = try runPickle(cycle) }
        var deep = proto
        for _ in 0..<100_000 { deep += [0x5D] }
        for _ in 0..<99_999 { deep += [0x61] }
        deep += [0x2E]
        expectSerializationError("deep nesting") { _ = try runPickle(deep) }
        // An exponential DAG (each list holds the previous one twice) is cut off by the value budget.
        var dag = proto + [0x4E]
        for _ in 0..<40 { dag += [0x32, 0x86] }      // DUP, TUPLE2
        dag += [0x2E]
        expectSerializationError("exponential sharing") { _ = try runPickle(dag) }
    }

    @Test func torchTensorViewsOutsideTheirStorage() throws {
        // A storage of 2 floats viewed with size 3: the bound check must refuse it.
        let pickle: [UInt8] = [0x80, 0x02] + Array("ctorch._utils\n_rebuild_tensor_v2\n".utf8) + [0x28, 0x28]
            + [0x8C, 7] + Array("storage".utf8) + Array("ctorch\nFloatStorage\n".utf8) + [0x8C, 1, 0x30, 0x8C, 3] + Array("cpu".utf8)
            + [0x4B, 2, 0x74, 0x51, 0x4B, 0, 0x4B, 3, 0x85, 0x4B, 1, 0x85, 0x89, 0x4E, 0x74, 0x52, 0x2E]
        let storage = TensorStorage(byteCount: 8)
        do {
            _ = try pickle.withUnsafeBytes { buffer in
                try PickleMachine.evaluate(buffer) { _ in .storage(PickledStorage(storage: storage, byteCount: 8, dtype: .float32)) }
            }
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("reaches element 2 of a storage with 2"), "\(error)")
        }
    }

    @Test func inflateHostileStreams() {
        let cases: [[UInt8]] = [[0x07], [0xFF, 0xFF], [0x01, 0x05, 0x00, 0x00, 0x00], [0x05, 0xFF], Array(repeating: 0xAA, count: 100)]
        for bytes in cases {
            expectSerializationError("inflate \(bytes.prefix(5))") { _ = try Deflate.decompress(bytes, maximumSize: 1 << 16) }
        }
        // Output limited: a stream of 100k zeros into a 1000-byte buffer.
        let packed = Deflate.compress([UInt8](repeating: 0, count: 100_000))
        expectSerializationError("output limit") { _ = try Deflate.decompress(packed, maximumSize: 1000) }
    }

    @Test func mutationFuzzLoop() {
        // A short in-test run of the ember-fuzz mutations (the executable runs many more).
        var state: UInt64 = 0x9E3779B97F4A7C15
        func next() -> Int { state ^= state >> 12; state ^= state << 25; state ^= state >> 27; return Int((state &* 2685821657736338717) >> 1) }
        for (file, read) in Self.readers {
            let seed = IOFixtures.bytes(file)
            for _ in 0..<150 {
                var data = seed
                switch next() % 4 {
                case 0: data[next() % data.count] ^= UInt8(1 << (next() % 8))
                case 1: data.removeSubrange((next() % data.count)...)
                case 2:
                    let at = next() % max(1, data.count - 8)
                    for k in 0..<min(4, data.count - at) { data[at + k] = 0xFF }
                default: data.insert(contentsOf: [0xFF, 0xFF, 0xFF, 0x7F], at: next() % data.count)
                }
                do { try read(data) } catch is SerializationError {} catch { Issue.record("\(file): \(error)") }
            }
        }
    }
}
