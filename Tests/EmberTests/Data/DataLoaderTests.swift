import Dispatch
import Foundation
import Testing
@testable import Ember

/// A dataset whose sample i is the 0-d tensor i (float), and that fails at `failAt`.
struct NumbersDataset: Dataset {
    let count: Int
    var failAt: Int? = nil
    var delay: Double = 0
    subscript(index: Int) -> Tensor {
        get throws {
            if delay > 0 { Thread.sleep(forTimeInterval: delay) }
            if index == failAt { throw DatasetError.sample(index: index, message: "corrupt record") }
            return Tensor(Float(index))
        }
    }
}

/// Runs `body` on another thread and fails the test if it takes longer than `seconds`, so a
/// hang shows as a failure rather than a stuck test run.
final class ResultBox<T>: @unchecked Sendable {
    // Written by one thread before it signals, read by the other after the wait.
    var result: Result<T, any Error>?
    init() {}
}

@discardableResult
func withTimeout<T: Sendable>(_ seconds: Double, _ body: @escaping @Sendable () throws -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Thread { box.result = Result { try body() }; done.signal() }.start()
    guard done.wait(timeout: .now() + seconds) == .success else {
        throw CollateError(description: "timed out after \(seconds)s")
    }
    return try box.result!.get()
}

func allBatches<S: Dataset, B>(_ loader: DataLoader<S, B>, skipping: Int = 0) throws -> [B] {
    var result: [B] = []
    var iterator = loader.epoch(skipping: skipping)
    while let batch = try iterator.next() { result.append(batch) }
    return result
}

@Suite struct DataLoaderTests {
    @Test func sequentialBatchesAndDropLast() throws {
        let data = NumbersDataset(count: 10)
        let loader = DataLoader(data, batchSize: 4)
        #expect(loader.count == 3)
        let batches = try allBatches(loader).map { $0.scalars(as: Float.self) }
        #expect(batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
        let dropping = DataLoader(data, batchSize: 4, dropLast: true)
        #expect(dropping.count == 2)
        #expect(try allBatches(dropping).count == 2)
    }

    @Test func shuffleIsSeededAndAPermutation() throws {
        let data = NumbersDataset(count: 50)
        func epochs(seed: UInt64) throws -> [[Float]] {
            let loader = DataLoader(data, batchSize: 8, shuffle: true, generator: RandomGenerator(seed: seed))
            return try (0..<2).map { _ in try allBatches(loader).flatMap { $0.scalars(as: Float.self) } }
        }
        let first = try epochs(seed: 3), again = try epochs(seed: 3), other = try epochs(seed: 4)
        #expect(first == again)
        #expect(first != other)
        #expect(first[0] != first[1], "each epoch draws a new order")
        #expect(first[0].sorted() == (0..<50).map(Float.init))
    }

    @Test func workersGiveTheSameBatchesInTheSameOrder() throws {
        // Random transforms included: they draw from the per-batch generator.
        let base = LabeledDataset(inputs: Tensor.arange(0, 60, dtype: .float32).reshaped([15, 1, 2, 2]),
                                  labels: Tensor.arange(15), classes: (0..<15).map(String.init),
                                  transform: Compose([RandomCrop(size: 2, padding: 1), RandomHorizontalFlip()]))
        func run(workers: Int, prefetch: Int = 2) throws -> [[Float]] {
            let loader = DataLoader(base, batchSize: 4, shuffle: true, numWorkers: workers, prefetchFactor: prefetch,
                                    generator: RandomGenerator(seed: 7))
            return try (0..<2).flatMap { _ in try allBatches(loader).map { $0.0.scalars(as: Float.self) + $0.1.scalars(as: Float.self) } }
        }
        let single = try run(workers: 0)
        #expect(try run(workers: 1) == single)
        #expect(try run(workers: 3, prefetch: 1) == single)
        #expect(try run(workers: 2, prefetch: 4) == single)
    }

    @Test func skippingResumesAnEpoch() throws {
        let data = NumbersDataset(count: 20)
        let loader = DataLoader(data, batchSize: 3, shuffle: true, generator: RandomGenerator(seed: 1))
        let state = loader.generator.stateWords
        let full = try allBatches(loader).map { $0.scalars(as: Float.self) }
        loader.generator.stateWords = state
        let tail = try allBatches(loader, skipping: 4).map { $0.scalars(as: Float.self) }
        #expect(tail == Array(full.dropFirst(4)))
    }

    @Test func workerErrorSurfacesWithoutHanging() throws {
        for workers in [0, 1, 3] {
            let loader = DataLoader(NumbersDataset(count: 40, failAt: 13, delay: 0.001), batchSize: 4, numWorkers: workers)
            let message = try withTimeout(20) { () -> String in
                do {
                    _ = try allBatches(loader)
                    return "no error"
                } catch {
                    return "\(error)"
                }
            }
            #expect(message == "sample 13: corrupt record", "workers: \(workers)")
        }
    }

    @Test func abandoningAnEpochStopsTheWorkers() throws {
        let loader = DataLoader(NumbersDataset(count: 200), batchSize: 2, numWorkers: 2)
        try withTimeout(20) {
            for _ in 0..<5 {
                var iterator = loader.epoch()
                _ = try iterator.next()
            }   // each iterator is dropped after one batch
            return 0
        }
    }

    @Test func samplers() {
        let generator = RandomGenerator(seed: 0)
        #expect(SequentialSampler().indices(count: 4, generator: generator) == [0, 1, 2, 3])
        let withReplacement = RandomSampler(replacement: true, numSamples: 100).indices(count: 3, generator: generator)
        #expect(withReplacement.count == 100 && withReplacement.allSatisfy { (0..<3).contains($0) })
        #expect(RandomSampler(numSamples: 7).indices(count: 3, generator: generator).count == 7)
        let weighted = WeightedRandomSampler(weights: [0, 1, 3], numSamples: 4000).indices(count: 3, generator: generator)
        #expect(!weighted.contains(0))
        let threes = weighted.filter { $0 == 2 }.count
        #expect(abs(Double(threes) / 4000 - 0.75) < 0.03)
        let unique = WeightedRandomSampler(weights: [1, 1, 5, 0], numSamples: 3, replacement: false).indices(count: 4, generator: generator)
        #expect(Set(unique) == [0, 1, 2])
        let batches = BatchSampler(SequentialSampler(), batchSize: 3, dropLast: false).batches(count: 7, generator: generator)
        #expect(batches == [[0, 1, 2], [3, 4, 5], [6]])
        #expect(BatchSampler(SequentialSampler(), batchSize: 3, dropLast: true).batchCount(datasetCount: 7) == 2)
        let custom = DataLoader(NumbersDataset(count: 6), batchSampler: BatchSampler(SequentialSampler(), batchSize: 5))
        #expect(custom.count == 2)
    }

    @Test func collateNestedStructures() throws {
        let a = Tensor([1, 2] as [Float]), b = Tensor([3, 4] as [Float])
        #expect(try Tensor.collate([a, b]).shape == [2, 2])
        let arrays = try [Tensor].collate([[a, Tensor(Int64(1))], [b, Tensor(Int64(2))]])
        #expect(arrays[0].scalars(as: Float.self) == [1, 2, 3, 4] && arrays[1].scalars(as: Int.self) == [1, 2])
        let dictionaries = try [String: [Tensor]].collate([["x": [a]], ["x": [b]]])
        #expect(dictionaries["x"]![0].shape == [2, 2])
        let pairs = try collatePairs([(a, [a, b]), (b, [b, a])])
        #expect(pairs.0.shape == [2, 2] && pairs.1.count == 2 && pairs.1[1].scalars(as: Float.self) == [3, 4, 1, 2])
        #expect(throws: CollateError.self) { try Tensor.collate([a, Tensor([1] as [Float])]) }
        #expect(throws: CollateError.self) { try [String: Tensor].collate([["x": a], ["y": b]]) }
        // Through a loader: dictionary samples.
        let dictionaryData = MapDataset(NumbersDataset(count: 5)) { ["value": $0, "double": $0 * 2] }
        let batches = try allBatches(DataLoader(dictionaryData, batchSize: 5))
        #expect(batches[0]["double"]!.scalars(as: Float.self) == [0, 2, 4, 6, 8])
    }

    @Test func datasetCombinators() throws {
        let data = TensorDataset(Tensor.arange(0, 10, dtype: .float32).reshaped([5, 2]), Tensor.arange(5))
        #expect(data.count == 5)
        #expect(data[2].1.item(as: Int.self) == 2)
        let subset = Subset(data, indices: [4, 0])
        #expect(try subset[0].0.scalars(as: Float.self) == [8, 9])
        let joined = ConcatDataset([subset, Subset(data, indices: [1, 2, 3])])
        #expect(joined.count == 5)
        #expect(try (0..<5).map { try joined[$0].1.item(as: Int.self) } == [4, 0, 1, 2, 3])
        let parts = randomSplit(data, lengths: [0.6, 0.4], generator: RandomGenerator(seed: 0))
        #expect(parts.map(\.count) == [3, 2])
        #expect(Set(parts.flatMap(\.indices)) == Set(0..<5))
        let again = randomSplit(data, lengths: [3, 2], generator: RandomGenerator(seed: 0))
        #expect(again.map(\.indices) == parts.map(\.indices))
        let loader = DataLoader(data, batchSize: 2)
        let batches = try allBatches(loader)
        #expect(batches.count == 3 && batches[0].0.shape == [2, 2] && batches[2].1.scalars(as: Int.self) == [4])
    }

    @Test func iterableLikeMapDatasetAndTransforms() throws {
        let image = Tensor.arange(0, 12, dtype: .float32).reshaped([1, 3, 4])
        let normalized = Normalize(mean: [1], std: [2])(image)
        #expect(normalized.scalars(as: Float.self)[0...2] == [-0.5, 0, 0.5])
        let flipped = RandomHorizontalFlip(p: 1)(image)
        #expect(flipped.scalars(as: Float.self)[0...3] == [3, 2, 1, 0])
        #expect(RandomHorizontalFlip(p: 0)(image).scalars(as: Float.self) == image.scalars(as: Float.self))
        let crop = DataRandom.$generator.withValue(RandomGenerator(seed: 0)) { RandomCrop(size: 3, padding: 1)(image) }
        #expect(crop.shape == [1, 3, 3])
        #expect(RandomCrop(size: [3, 4])(image).scalars(as: Float.self) == image.scalars(as: Float.self))
        #expect(Resize(size: [6, 8], mode: .nearest)(image).shape == [1, 6, 8])
        let bytes = Tensor(shape: [2, 2, 3], scalars: [UInt8](0..<12))
        let converted = ToTensor()(bytes)
        #expect(converted.shape == [3, 2, 2] && converted.dtype == .float32)
        #expect(abs(converted.scalars(as: Float.self)[1] - 3 / 255) < 1e-7)
        #expect(ToTensor(maximum: 16)(Tensor.ones([8, 8], dtype: .uint8)).shape == [1, 8, 8])
        let composed = Compose([Lambda { $0 + 1 }, Normalize(mean: [0], std: [0.5])])
        #expect(composed(Tensor.zeros([1, 1, 1])).item() == 2)
    }
}

struct CountingStream: IterableDataset {
    let limit: Int
    func makeSampleIterator() -> AnyIterator<Tensor> {
        var i = 0
        return AnyIterator { () -> Tensor? in
            guard i < limit else { return nil }
            defer { i += 1 }
            return Tensor(Float(i))
        }
    }
}

@Suite struct IterableDataLoaderTests {
    @Test func batchesAStreamInOrder() throws {
        let loader = IterableDataLoader(CountingStream(limit: 7), batchSize: 3) { try Tensor.collate($0) }
        var iterator = try loader.epoch()
        var batches: [[Float]] = []
        while let batch = try iterator.next() { batches.append(batch.scalars(as: Float.self)) }
        #expect(batches == [[0, 1, 2], [3, 4, 5], [6]])
        var dropping = try IterableDataLoader(CountingStream(limit: 7), batchSize: 3, dropLast: true) { try Tensor.collate($0) }.epoch()
        var count = 0
        while try dropping.next() != nil { count += 1 }
        #expect(count == 2)
    }
}
