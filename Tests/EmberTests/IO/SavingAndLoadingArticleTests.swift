import Foundation
import Testing
@testable import Ember

// The code of Ember.docc/SavingAndLoading.md, run against temporary files (paths in the article
// such as "mlp.safetensors" become files in a fresh folder). Update both together.

private func articleModel() -> Sequential {
    Sequential {
        Linear(4, 8)
        ReLU()
        Linear(8, 2)
    }
}

@Suite("SavingAndLoading article", .serialized)
struct SavingAndLoadingArticleTests {
    @Test func stateDicts() throws {
        let folder = temporaryFolder()
        let model = articleModel()
        let url = folder.appendingPathComponent("mlp.safetensors")

        try model.save(to: url)
        let fresh = articleModel()
        let keys = try fresh.load(from: url)
        #expect(keys.missingKeys.isEmpty && keys.unexpectedKeys.isEmpty)
        expectSameTensors(fresh.stateDict(), model.stateDict())

        try save(model.stateDict(), to: url, metadata: ["epoch": "3"])
        let state = try load(from: url)
        #expect(Set(state.keys) == ["0.weight", "0.bias", "2.weight", "2.bias"])
        let file = try SafeTensors.load(from: url)
        #expect(file.metadata["epoch"]! == "3")
        expectSameTensors(file.tensors, model.stateDict())

        // strict: false reports the names that did not match instead of throwing.
        var partial = model.stateDict()
        partial["2.bias"] = nil
        partial["extra"] = Tensor.zeros([1])
        let result = try articleModel().loadStateDict(partial, strict: false)
        #expect(result.missingKeys == ["2.bias"] && result.unexpectedKeys == ["extra"])
        var wrongShape = model.stateDict()
        wrongShape["0.bias"] = Tensor.zeros([3])
        #expect(throws: StateDictError.self) { try articleModel().loadStateDict(wrongShape, strict: false) }
    }

    @Test func numPy() throws {
        let folder = temporaryFolder()
        func url(_ name: String) -> URL { folder.appendingPathComponent(name) }
        let model = articleModel()

        try save(model.stateDict(), to: url("mlp.npz"))
        try NumPy.saveArchive(model.stateDict(), to: url("small.npz"), compressed: true)
        let arrays = try NumPy.loadArchive(from: url("small.npz"))
        expectSameTensors(arrays, model.stateDict())
        expectSameTensors(try load(from: url("mlp.npz")), model.stateDict())

        let x = Tensor.arange(6).reshaped([2, 3])
        try x.save(to: url("x.npy"))
        let y = try Tensor.load(npy: url("x.npy"))
        #expect(y.dtype == .int64 && y.shape == [2, 3] && y.scalars(as: Int.self) == [0, 1, 2, 3, 4, 5])

        // No bfloat16 in NumPy: the save throws and writes nothing.
        #expect(throws: SerializationError.self) { try save(["b": Tensor.ones([2]).to(.bfloat16)], to: url("b.npz")) }
        #expect(!FileManager.default.fileExists(atPath: url("b.npz").path))
    }

    @Test func pyTorchCheckpoints() throws {
        let root = try TorchCheckpoint.load(from: IOFixtures.url("checkpoint.pt"))
        let weights = root["model"]?.stateDict
        let epoch = root["epoch"]?.int
        let everything = root.flattenedTensors
        #expect(weights?["fc.weight"]?.shape == [2, 4])
        #expect(epoch == 3)
        #expect(everything["model.fc.weight"] != nil && everything["extras.u8"] != nil)

        var refused: String?
        do {
            _ = try TorchCheckpoint.load(from: IOFixtures.url("malicious.pt"))
        } catch SerializationError.disallowedGlobal(let name) {
            refused = name
        }
        #expect(refused == "os.system")
        #expect(SerializationError.disallowedGlobal("os.system").description.hasPrefix("pickle: global 'os.system' is not allowed"))

        // Saving a .pt file is refused with a message that points to safetensors.
        let folder = temporaryFolder()
        #expect(throws: SerializationError.self) { try articleModel().save(to: folder.appendingPathComponent("m.pt")) }
    }

    /// The article's checkpoint loop, resumed into fresh objects, against an uninterrupted run.
    @Test func checkpointResumesExactly() throws {
        let folder = temporaryFolder()
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("run"), withIntermediateDirectories: true)
        let url = folder.appendingPathComponent("run/last.safetensors")

        final class Run {
            let model: Sequential
            let optimizer: Adam
            let scheduler: StepLR
            let generator = RandomGenerator(seed: 1)
            init(weights: StateDict? = nil) throws {
                model = articleModel()
                if let weights { try model.loadStateDict(weights) }
                optimizer = Adam(model.parameters(), lr: 1e-2)
                scheduler = StepLR(optimizer, stepSize: 2, gamma: 0.5)
            }
            func trainOneEpoch() {
                let x = Tensor.randn([16, 4], generator: generator)
                optimizer.zeroGrad()
                model(x).square().mean().backward()
                optimizer.step()
                scheduler.step()
            }
        }

        // Uninterrupted: five epochs. (Initial weights are copied rather than seeded, since other
        // tests may draw from the default generator concurrently.)
        let reference = try Run()
        let initial = StateDict(reference.model.stateDict().map { ($0.name, $0.tensor.clone()) })
        for _ in 1...5 { reference.trainOneEpoch() }

        // The article: three epochs with a checkpoint after each…
        let first = try Run(weights: initial)
        for epoch in 1...3 {
            first.trainOneEpoch()
            let checkpoint = Checkpoint(model: first.model.stateDict(), optimizer: first.optimizer.stateDict(),
                                        scheduler: first.scheduler.stateDict(), epoch: epoch,
                                        randomState: first.generator.stateWords, metadata: ["note": "baseline"])
            try checkpoint.save(to: url)
        }
        // …then, as in a new process: other weights, other random state, fresh optimizer and scheduler.
        let second = try Run()
        _ = Tensor.randn([5], generator: second.generator)
        let resumed = try Checkpoint.load(from: url)
        #expect(resumed.epoch == 3 && resumed.metadata == ["note": "baseline"])
        try second.model.loadStateDict(resumed.model)
        if let state = resumed.optimizerState { second.optimizer.loadStateDict(state) }
        if let state = resumed.schedulerState { second.scheduler.loadStateDict(state) }
        resumed.restoreRandomState(second.generator)
        for _ in (resumed.epoch + 1)...5 { second.trainOneEpoch() }

        let expected = reference.model.stateDict()
        for (name, tensor) in second.model.stateDict() {
            #expect(tensor.scalars(as: Float.self) == expected[name]!.scalars(as: Float.self), "\(name)")
        }
        #expect(second.optimizer.paramGroups[0].lr == reference.optimizer.paramGroups[0].lr)
    }

    @Test func memoryMappedLoading() throws {
        let folder = temporaryFolder()
        let url = folder.appendingPathComponent("w.safetensors")
        try save(["w": Tensor.ones([4])], to: url)

        let mapped = try SafeTensors.load(from: url)
        let copied = try SafeTensors.load(from: url, mapped: false)
        // In-place changes stay in the process; overwriting the file leaves loaded tensors alone.
        let w = mapped.tensors["w"]!
        w += 1
        #expect(try SafeTensors.load(from: url).tensors["w"]!.scalars(as: Float.self) == [1, 1, 1, 1])
        try save(["w": Tensor.zeros([4])], to: url)
        #expect(w.scalars(as: Float.self) == [2, 2, 2, 2])
        #expect(copied.tensors["w"]!.scalars(as: Float.self) == [1, 1, 1, 1])
        #expect(try load(from: url)["w"]!.scalars(as: Float.self) == [0, 0, 0, 0])
    }

    @Test func atomicWriteReplacesTheFileAndLeavesNoTemporary() throws {
        // Failures and crashes part-way are covered by FormatTests (failedWriteLeavesPreviousFile,
        // crashMidWriteLeavesPreviousFile); a test hook here would race with those.
        let folder = temporaryFolder()
        let url = folder.appendingPathComponent("model.safetensors")
        try articleModel().save(to: url)
        let model = articleModel()
        try model.save(to: url)
        expectSameTensors(try load(from: url), model.stateDict())
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["model.safetensors"])
    }

    @Test func zeroCopyTensors() {
        final class Flag { var value = false }
        let freed = Flag()
        do {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 6 * MemoryLayout<Float>.stride,
                                                                alignment: 64)
            buffer.initializeMemory(as: Float.self, repeating: 1)
            let image = Tensor(borrowing: buffer, shape: [2, 3], dtype: .float32) { freed.value = true; $0.deallocate() }
            image += 1
            #expect(buffer.load(as: Float.self) == 2.0)

            let total = image.withUnsafeBufferPointer(as: Float.self) { $0.reduce(0, +) }
            #expect(total == 12.0)
            image.withUnsafeMutableBufferPointer(as: Float.self) { $0[1] = 5 }   // row 0: [2, 5, 2]
            let columns = image.t.contiguous()
            let firstColumn = columns.withUnsafeBufferPointer(as: Float.self) { Array($0.prefix(2)) }
            #expect(firstColumn == [2, 2])
            #expect(columns.withUnsafeBufferPointer(as: Float.self) { Array($0) } == [2, 2, 5, 2, 2, 2])
            image.withUnsafeMutableBufferPointer(as: Float.self) { $0[0] = 42 }
            #expect(buffer.load(as: Float.self) == 42)
            #expect(!freed.value)
        }
        #expect(freed.value)
    }

    @Test func errors() throws {
        let folder = temporaryFolder()
        let url = folder.appendingPathComponent("damaged.safetensors")
        try save(["w": Tensor.ones([64])], to: url)
        let bytes = try Data(contentsOf: url)
        try bytes.prefix(bytes.count - 10).write(to: url)

        func describe(_ url: URL) -> String {
            do {
                _ = try load(from: url)
                return "loaded"
            } catch let error as SerializationError {
                switch error {
                case .io(let path, let message):
                    return "cannot read \(path): \(message)"
                case .truncated, .outOfBounds, .sizeMismatch, .badMagic, .malformed:
                    return "damaged file: \(error)"
                case .unsupportedDType(_, let dtype):
                    return "Ember has no dtype for \(dtype)"
                case .disallowedGlobal(let name):
                    return "refused to run \(name)"
                case .unsupportedFormat(let message):
                    return message
                }
            } catch {
                return "other: \(error)"
            }
        }
        #expect(describe(url).hasPrefix("damaged file: safetensors"))
        #expect(describe(folder.appendingPathComponent("missing.safetensors")).hasPrefix("cannot read"))
        #expect(describe(folder.appendingPathComponent("notes.txt")).contains("unknown extension"))
        #expect(describe(IOFixtures.url("malicious.pt")) == "refused to run os.system")
    }
}
