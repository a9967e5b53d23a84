import Foundation
import Testing
@testable import Ember

@Suite("Reading files written by numpy, safetensors and torch")
struct FixtureReadingTests {
    @Test func npyFilesFromNumPy() throws {
        for (name, expected) in IOFixtures.tensors("npy") {
            expectMatches(try NumPy.load(npy: IOFixtures.url(name)), expected, name)
            expectMatches(try NumPy.load(npy: IOFixtures.url(name), mapped: false), expected, name)
        }
        // Fortran order is a strided view of the file, not a copy.
        let fortran = try NumPy.load(npy: IOFixtures.url("npy_fortran_f4.npy"))
        #expect(fortran.strides == [1, 3])
        #expect(!fortran.isContiguous)
    }

    @Test func npzStoredAndCompressed() throws {
        for file in ["arrays.npz", "arrays_compressed.npz"] {
            let arrays = try NumPy.loadArchive(from: IOFixtures.url(file))
            let expected = IOFixtures.tensors("npz")
            #expect(Set(arrays.keys) == Set(expected.keys))
            for (name, description) in expected { expectMatches(arrays[name], description, "\(file):\(name)") }
        }
    }

    @Test func safetensorsFromReferenceWriter() throws {
        let contents = try SafeTensors.load(from: IOFixtures.url("all_dtypes.safetensors"))
        #expect(contents.metadata == IOFixtures.expected["safetensors_metadata"] as! [String: String])
        for (name, description) in IOFixtures.tensors("safetensors") { expectMatches(contents.tensors[name], description, name) }
    }

    @Test func safetensorsWriterMatchesReferenceBytes() throws {
        // Same tensors and metadata as the fixture: the bytes must be identical (key order, padding).
        let reference = IOFixtures.bytes("all_dtypes.safetensors")
        let loaded = try SafeTensors.decode(reference)
        #expect(try SafeTensors.encode(loaded.tensors, metadata: loaded.metadata) == reference)
    }

    @Test func torchCheckpointNestedDict() throws {
        let root = try TorchCheckpoint.load(from: IOFixtures.url("checkpoint.pt"))
        #expect(root["epoch"]?.int == 3)
        #expect(root["lr"]?.double == 0.125)
        #expect(root["name"]?.string == "block")
        #expect(root["big"]?.int == 1 << 40)
        #expect(root["neg"]?.int == -7)
        #expect(root["flags"]?.description == "[True, False, None]")
        #expect(root["shape"]?.description == "(2, 3)")
        let model = try #require(root["model"]?.stateDict)
        let expectedModel = IOFixtures.tensors("torch_model")
        #expect(Set(model.keys) == Set(expectedModel.keys))
        for (name, description) in expectedModel { expectMatches(model[name], description, name) }
        let extras = try #require(root["extras"]?.stateDict)
        for (name, description) in IOFixtures.tensors("torch_extras") { expectMatches(extras[name], description, name) }
        // Views keep PyTorch's strides and offsets, and shared storages stay shared.
        let strides = IOFixtures.expected["torch_strides"] as! [String: [Any]]
        for (name, pair) in strides {
            let tensor = try #require(extras[name])
            #expect(tensor.strides == pair[0] as! [Int], "\(name)")
            #expect(tensor.storageOffset == pair[1] as! Int, "\(name)")
        }
        #expect(extras["whole"]!.storage === extras["non_contiguous"]!.storage)
        #expect(extras["whole"]!.storage === extras["view_with_offset"]!.storage)
        #expect(extras["shared_a"]!.storage === extras["shared_b"]!.storage)
        // The generic loader flattens nested dicts into dotted names.
        let flat = try load(from: IOFixtures.url("checkpoint.pt"))
        #expect(flat["model.fc.weight"] != nil && flat["extras.u8"] != nil)
    }

    @Test func torchProtocol4StateDict() throws {
        let state = try #require(try TorchCheckpoint.load(from: IOFixtures.url("state_dict_p4.pth")).stateDict)
        for (name, description) in IOFixtures.tensors("torch_model") { expectMatches(state[name], description, name) }
    }

    @Test func disallowedGlobalsAreRefusedByName() throws {
        for (file, global) in [("malicious.pt", "os.system"), ("malicious_p4.pt", "builtins.eval")] {
            #expect(throws: SerializationError.disallowedGlobal(global)) {
                _ = try TorchCheckpoint.load(from: IOFixtures.url(file))
            }
        }
        let message = SerializationError.disallowedGlobal("os.system").description
        #expect(message.contains("os.system"))
    }
}

@Suite("Round trips")
struct RoundTripTests {
    @Test func safetensorsEveryDType() throws {
        let folder = temporaryFolder()
        let url = folder.appendingPathComponent("all.safetensors")
        let state = sampleTensors()
        try save(state, to: url, metadata: ["epoch": "3", "note": "a \"quoted\" \\ value\n"])
        let contents = try SafeTensors.load(from: url)
        expectSameTensors(contents.tensors, state)
        #expect(contents.metadata == ["epoch": "3", "note": "a \"quoted\" \\ value\n"])
        #expect(try SafeTensors.load(from: url, mapped: false).tensors.count == state.count)
        // Deterministic: same state, same bytes; header padded to 8 bytes.
        let bytes = try SafeTensors.encode(state)
        #expect(bytes == (try SafeTensors.encode(state)))
        #expect((bytes.count - Int(bytes[0]) - Int(bytes[1]) << 8) >= 8 && (Int(bytes[0]) | Int(bytes[1]) << 8) % 8 == 0)
    }

    @Test func npyAndNpzEveryNumPyDType() throws {
        let folder = temporaryFolder()
        var state = sampleTensors()
        state["t_bfloat16"] = nil
        for (name, tensor) in state {
            let url = folder.appendingPathComponent("\(name).npy")
            try tensor.save(to: url)
            expectSameTensors(StateDict([(name, try Tensor.load(npy: url))]), StateDict([(name, tensor)]))
        }
        for compressed in [false, true] {
            let url = folder.appendingPathComponent("all\(compressed).npz")
            try NumPy.saveArchive(state, to: url, compressed: compressed)
            expectSameTensors(try NumPy.loadArchive(from: url), state)
        }
        expectSerializationError("bfloat16 has no NumPy dtype") { _ = try NumPy.encode(Tensor.ones([2], dtype: .bfloat16)) }
    }

    @Test func moduleSaveAndLoad() throws {
        let folder = temporaryFolder()
        let source = Linear(3, 2), target = Linear(3, 2)
        try source.save(to: folder.appendingPathComponent("linear.safetensors"))
        try target.load(from: folder.appendingPathComponent("linear.safetensors"))
        #expect(target.stateDict()["weight"]!.scalars(as: Float.self) == source.stateDict()["weight"]!.scalars(as: Float.self))
        expectSerializationError("pt is read only") { try source.save(to: folder.appendingPathComponent("x.pt")) }
        expectSerializationError("unknown extension") { _ = try load(from: folder.appendingPathComponent("x.bin")) }
    }

    @Test func deflateRoundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        let inputs: [[UInt8]] = [[], [1], Array("abcabcabcabcabcabcabc".utf8), [UInt8](repeating: 7, count: 100_000),
                                 (0..<70_000).map { _ in UInt8.random(in: 0...3, using: &generator) },
                                 (0..<70_000).map { _ in UInt8.random(in: 0...255, using: &generator) }]
        for input in inputs {
            for level in [0, 6] {
                let packed = Deflate.compress(input, level: level)
                #expect(try Deflate.decompress(packed, maximumSize: input.count) == input)
            }
        }
        #expect(Deflate.compress([UInt8](repeating: 7, count: 100_000)).count < 1000)
        #expect(Deflate.crc32(Array("123456789".utf8)) == 0xCBF43926)
    }
}

@Suite("Checkpoints and atomic writes")
struct CheckpointTests {
    @Test func checkpointRoundTrip() throws {
        let url = temporaryFolder().appendingPathComponent("last.safetensors")
        let model = Linear(2, 2)
        let generator = RandomGenerator(seed: 42)
        let checkpoint = Checkpoint(model: model.stateDict(), optimizer: ["state.0.momentum": Tensor.ones([2, 2])],
                                    optimizerValues: ["param_groups.0.lr": [0.1]],
                                    scheduler: ["lastEpoch": [4], "baseLRs": [0.1, .infinity]], epoch: 4,
                                    randomState: generator.stateWords, metadata: ["run": "a"])
        try checkpoint.save(to: url)
        let loaded = try Checkpoint.load(from: url)
        expectSameTensors(loaded.model, checkpoint.model)
        expectSameTensors(loaded.optimizer, checkpoint.optimizer)
        #expect(loaded.optimizerValues == checkpoint.optimizerValues)
        #expect(loaded.scheduler == checkpoint.scheduler)
        #expect(loaded.epoch == 4 && loaded.metadata == ["run": "a"])
        let restored = RandomGenerator(seed: 1)
        loaded.restoreRandomState(restored)
        #expect(restored.stateWords == generator.stateWords)
    }

    @Test func failedWriteLeavesPreviousFile() throws {
        let folder = temporaryFolder()
        let url = folder.appendingPathComponent("model.safetensors")
        let old = StateDict([("w", Tensor.ones([64]))])
        try save(old, to: url)
        let before = try Data(contentsOf: url)
        AtomicFileWriter.failAfterBytesForTesting = 100
        defer { AtomicFileWriter.failAfterBytesForTesting = nil }
        expectSerializationError("simulated failure") { try save(StateDict([("w", Tensor.zeros([1000]))]), to: url) }
        #expect(try Data(contentsOf: url) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["model.safetensors"])
    }

    @Test func crashMidWriteLeavesPreviousFile() async throws {
        let folder = temporaryFolder()
        let url = folder.appendingPathComponent("model.safetensors")
        try save(StateDict([("w", Tensor.ones([64]))]), to: url)
        let before = try Data(contentsOf: url)
        // The child inherits the environment: exit tests cannot capture local values.
        setenv("EMBER_IO_CRASH_TARGET", url.path, 1)
        await #expect(processExitsWith: .exitCode(3)) {
            let target = String(cString: getenv("EMBER_IO_CRASH_TARGET"))
            AtomicFileWriter.exitAfterBytesForTesting = 1000
            try? save(StateDict([("w", Tensor.zeros([10_000]))]), to: URL(fileURLWithPath: target))
        }
        #expect(try Data(contentsOf: url) == before)
        #expect(try SafeTensors.load(from: url).tensors["w"]!.scalars(as: Float.self) == [Float](repeating: 1, count: 64))
    }
}

@Suite("Zero-copy access")
struct ZeroCopyTests {
    @Test func borrowedMemoryIsFreedWithTheLastView() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 24, alignment: 64)
        buffer.bindMemory(to: Float.self).initialize(repeating: 2)
        final class Flag: @unchecked Sendable { var freed = false }
        let flag = Flag()
        var view: Tensor?
        do {
            let x = Tensor(borrowing: buffer, shape: [2, 3], dtype: .float32) { $0.deallocate(); flag.freed = true }
            view = x.transposed(0, 1)
            #expect([Float](x) == [Float](repeating: 2, count: 6))
        }
        #expect(!flag.freed)
        view = nil
        #expect(flag.freed)
        _ = view
    }

    @Test func bufferPointers() {
        let x = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4] as [Double])
        #expect(x.withUnsafeBufferPointer(as: Double.self) { $0.reduce(0, +) } == 10)
        x.withUnsafeMutableBufferPointer(as: Double.self) { $0[0] = 5 }
        #expect([Double](x) == [5, 2, 3, 4])
        #expect([Int](Tensor([1, 2] as [Int64])) == [1, 2])
    }

    @Test func bufferPointerStopsOnNonContiguous() async {
        await #expect(processExitsWith: .failure) {
            let x = Tensor.zeros([2, 3]).transposed(0, 1)
            _ = x.withUnsafeBufferPointer(as: Float.self) { $0.count }
        }
        await #expect(processExitsWith: .failure) {
            _ = Tensor.zeros([2]).withUnsafeBufferPointer(as: Double.self) { $0.count }
        }
    }

    @Test func mappedTensorsOutliveTheirLoader() throws {
        let url = temporaryFolder().appendingPathComponent("m.safetensors")
        try save(StateDict([("a", Tensor.ones([1000]))]), to: url)
        var tensor: Tensor? = try SafeTensors.load(from: url).tensors["a"]
        tensor! += 1 // private mapping: writes stay in memory
        #expect(tensor!.sum().item() == 2000)
        tensor = nil
        #expect(try SafeTensors.load(from: url).tensors["a"]!.sum().item() == 1000)
    }
}

@Suite("Checkpoints with optimizers")
struct OptimizerCheckpointTests {
    @Test func optimizerAndSchedulerStatesRoundTrip() throws {
        let state = OptimizerState(state: [0: ["momentum_buffer": Tensor.ones([2, 2])], 1: ["step": Tensor(3.0 as Double)]],
                                   paramGroups: [.init(options: ["lr": 0.1, "momentum": 0.9], params: [0, 1])])
        let scheduler = SchedulerState(values: ["lastEpoch": [2]], children: [SchedulerState(values: ["lastLR": [0.05]])])
        let url = temporaryFolder().appendingPathComponent("opt.safetensors")
        try Checkpoint(model: Linear(2, 2).stateDict(), optimizer: state, scheduler: scheduler, epoch: 2).save(to: url)
        let loaded = try Checkpoint.load(from: url)
        let restored = try #require(loaded.optimizerState)
        #expect(restored.paramGroups.count == 1 && restored.paramGroups[0].options == ["lr": 0.1, "momentum": 0.9])
        #expect(restored.paramGroups[0].params == [0, 1])
        #expect(restored.state[0]?["momentum_buffer"]?.scalars(as: Float.self) == [1, 1, 1, 1])
        #expect(restored.state[1]?["step"]?.item() == 3)
        #expect(loaded.schedulerState == scheduler)
    }
}
