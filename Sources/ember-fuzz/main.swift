// A mutation fuzzer for Ember's file readers: starts from the seed corpus in Tests/Fuzz/corpus,
// applies random bit flips, truncations, insertions and edits of little-endian length fields,
// and feeds each mutant to the matching reader. Readers must throw SerializationError (ONNX
// models: ONNXImportError) for bad input; any crash is caught by a signal handler that saves
// the input as crash-<reader>.bin.
//
//     swift run -c release ember-fuzz [iterations-per-reader] [seed] [corpus-folder]
import Ember
import EmberONNX
import Foundation
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
let iterations = arguments.count > 1 ? Int(arguments[1]) ?? 10_000 : 10_000
var seed: UInt64 = arguments.count > 2 ? UInt64(arguments[2]) ?? 1 : 1
let corpusFolder = arguments.count > 3 ? arguments[3] : "Tests/Fuzz/corpus"

/// xorshift*: reproducible runs from a seed.
struct Random {
    var state: UInt64
    mutating func next() -> UInt64 {
        state ^= state >> 12; state ^= state << 25; state ^= state >> 27
        return state &* 2685821657736338717
    }
    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
}

let interesting: [UInt64] = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF, 0x8000_0000,
                             0x7FFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF, 1 << 40]

func mutate(_ input: [UInt8], _ random: inout Random, corpus: [[UInt8]]) -> [UInt8] {
    var data = input
    for _ in 0...random.below(3) {
        switch random.below(8) {
        case 0 where !data.isEmpty: // flip a bit
            let i = random.below(data.count); data[i] ^= UInt8(1 << random.below(8))
        case 1 where !data.isEmpty: // set a byte to an interesting value
            data[random.below(data.count)] = UInt8(truncatingIfNeeded: interesting[random.below(interesting.count)])
        case 2 where !data.isEmpty: // truncate
            data.removeSubrange(random.below(data.count)...)
        case 3: // insert random bytes
            let at = random.below(data.count + 1)
            data.insert(contentsOf: (0..<(1 + random.below(16))).map { _ in UInt8(truncatingIfNeeded: random.next()) }, at: at)
        case 4 where data.count >= 8: // overwrite a 2/4/8-byte little-endian field
            let width = [2, 4, 8][random.below(3)]
            let at = random.below(data.count - width + 1)
            var value = interesting[random.below(interesting.count)]
            if random.below(2) == 0 { value = UInt64(data.count + random.below(64)) &- 32 }
            for k in 0..<width { data[at + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(k))) }
        case 5 where data.count > 4: // duplicate a chunk
            let start = random.below(data.count), length = min(1 + random.below(64), data.count - start)
            data.insert(contentsOf: data[start..<(start + length)], at: random.below(data.count))
        case 6 where data.count > 2: // delete a chunk
            let start = random.below(data.count), length = min(1 + random.below(32), data.count - start)
            data.removeSubrange(start..<(start + length))
        case 7: // splice with another seed
            let other = corpus[random.below(corpus.count)]
            if !other.isEmpty && !data.isEmpty {
                let cut = random.below(data.count), from = random.below(other.count)
                data = Array(data[..<cut]) + Array(other[from...])
            }
        default: break
        }
    }
    return data
}

// The input being run, saved by the crash handler (async-signal-safe: write(2) only).
nonisolated(unsafe) var currentInput = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 24, alignment: 16)
nonisolated(unsafe) var currentLength = 0
nonisolated(unsafe) var crashPath = [CChar](repeating: 0, count: 256)

func installCrashHandler() {
    for signalNumber in [SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGABRT, SIGFPE] {
        signal(signalNumber) { number in
            let descriptor = open(&crashPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            if descriptor >= 0 { _ = write(descriptor, currentInput.baseAddress, currentLength); close(descriptor) }
            let message = "ember-fuzz: crash (signal \(number)); input saved\n"
            _ = message.withCString { write(2, $0, strlen($0)) }
            _exit(99)
        }
    }
}

typealias Reader = ([UInt8]) throws -> Void
let readers: [(name: String, read: Reader)] = [
    ("safetensors", { _ = try SafeTensors.decode($0) }),
    ("npy", { _ = try NumPy.decode(npy: $0) }),
    ("npz", { _ = try NumPy.decodeArchive(npz: $0) }),
    ("pt", { _ = try TorchCheckpoint.decode($0) }),
    ("deflate", { _ = try Deflate.decompress($0, maximumSize: 1 << 16) }),
    ("graph", { bytes in
        // A graph that loads also runs, on zeros of its inputs' types (small ones only): a file
        // that passes the checks must not make a kernel stop the program.
        let graph = try Graph(decoding: bytes)
        let function = GraphFunction(graph)
        let types = function.inputTypes
        guard types.reduce(0, { $0 + $1.shape.reduce(1, *) }) <= 1 << 20 else { return }
        _ = withNoGrad { function(types.map { Tensor.zeros($0.shape, dtype: $0.dtype) }) }
    }),
    ("onnx", { bytes in
        // A model that loads also runs, on ones of its declared input types (symbolic sizes as
        // 2, small inputs only): a hostile file must throw, not stop the program.
        let model = try ONNXModel(data: Data(bytes))
        var feeds: [String: Tensor] = [:]
        for name in model.inputNames {
            guard let (dtype, declared) = model.inputTypes[name], let dtype else { return }
            let shape = declared.map { $0 ?? 2 }
            guard shape.reduce(1, { $0.multipliedReportingOverflow(by: $1).partialValue }) <= 1 << 16, shape.allSatisfy({ $0 >= 0 }) else { return }
            feeds[name] = withNoGrad { Tensor.ones(shape, dtype: dtype) }
        }
        _ = try withNoGrad { try model(feeds) }
    }),
]

installCrashHandler()
var random = Random(state: seed | 1)
var total = 0
let start = Date()
for (name, read) in readers {
    let folder = URL(fileURLWithPath: corpusFolder).appendingPathComponent(name)
    let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
    let corpus = files.sorted().compactMap { try? [UInt8](Data(contentsOf: folder.appendingPathComponent($0))) }
    guard !corpus.isEmpty else { print("\(name): no seeds in \(folder.path)"); continue }
    crashPath = Array("crash-\(name).bin".utf8CString) + [CChar](repeating: 0, count: 8)
    var accepted = 0, rejected = 0
    for i in 0..<iterations {
        let mutant = mutate(corpus[i % corpus.count], &random, corpus: corpus)
        currentLength = min(mutant.count, currentInput.count)
        mutant.withUnsafeBytes { currentInput.baseAddress!.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(bitPattern: 16)!, byteCount: currentLength) }
        do { try read(mutant); accepted += 1 } catch is SerializationError { rejected += 1 } catch is ONNXImportError { rejected += 1 } catch {
            print("\(name): unexpected error type \(type(of: error)): \(error)")
        }
    }
    total += iterations
    print("\(name): \(iterations) executions, \(rejected) rejected with a typed error, \(accepted) accepted, 0 crashes")
}
print("total: \(total) executions in \(String(format: "%.1f", Date().timeIntervalSince(start))) s, seed \(seed)")
