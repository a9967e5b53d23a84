import Foundation

/// Batches of a dataset, in a reproducible order, optionally prepared ahead by worker threads,
/// like `torch.utils.data.DataLoader`.
///
///     let loader = DataLoader(trainSet, batchSize: 64, shuffle: true, numWorkers: 2,
///                             generator: RandomGenerator(seed: 0))
///     var batches = loader.epoch()
///     while let (inputs, targets) = try batches.next() { … }
///
/// **Order and randomness.** At the start of each epoch the loader draws, from its own seeded
/// `generator`, the batches of indices (through the batch sampler) and one seed per batch. A
/// batch is read with `DataRandom.generator` set to a generator seeded with its seed, so random
/// transforms give the same values whichever thread reads the batch: with or without workers
/// the batches are identical, and restoring `generator.stateWords` replays an epoch.
///
/// **Workers** (`numWorkers > 0`) are threads that read and collate batch after batch, at most
/// `numWorkers * prefetchFactor` batches ahead of the training loop; batches are handed out in
/// order. Why threads rather than processes as in PyTorch: Swift has no GIL, and a tensor built
/// on a worker is used by the training loop without a copy. A dataset's error on a worker is
/// rethrown by `next()` at that batch, and the workers stop.
public final class DataLoader<Source: Dataset, Batch: SendableMetatype>: @unchecked Sendable {
    // Invariant for @unchecked Sendable: every stored property is immutable after init, and
    // RandomGenerator is itself thread-safe.
    public let dataset: Source
    public let batchSampler: BatchSampler
    public let numWorkers: Int
    public let prefetchFactor: Int
    /// The generator that fixes the order (and the per-batch transform seeds) of every epoch.
    public let generator: RandomGenerator
    let collate: @Sendable ([Source.Element]) throws -> Batch

    /// A loader with an explicit collate function.
    ///
    /// - Parameters:
    ///   - dataset: the samples to load.
    ///   - batchSize: samples per batch.
    ///   - shuffle: a random permutation each epoch (`RandomSampler`); ignored when `sampler` is given.
    ///   - sampler: the order of sample indices (sequential, random, weighted…).
    ///   - batchSampler: groups indices into batches itself; overrides `batchSize`, `sampler`, `dropLast`.
    ///   - dropLast: drop a last batch smaller than `batchSize`.
    ///   - numWorkers: threads preparing batches ahead of the loop (0: on the calling thread);
    ///     the batch order is the same either way.
    ///   - prefetchFactor: batches each worker keeps ready.
    ///   - generator: defaults to one seeded from the default generator, so `manualSeed` fixes the order.
    ///   - collate: turns a list of samples into one batch.
    public init(_ dataset: Source, batchSize: Int = 1, shuffle: Bool = false, sampler: (any Sampler)? = nil,
                batchSampler: BatchSampler? = nil, dropLast: Bool = false, numWorkers: Int = 0, prefetchFactor: Int = 2,
                generator: RandomGenerator? = nil, collate: @escaping @Sendable ([Source.Element]) throws -> Batch) {
        emberPrecondition(numWorkers >= 0, "DataLoader: numWorkers option should be non-negative")
        emberPrecondition(prefetchFactor >= 1, "DataLoader: prefetchFactor must be at least 1")
        self.dataset = dataset
        self.batchSampler = batchSampler
            ?? BatchSampler(sampler ?? (shuffle ? RandomSampler() : SequentialSampler()), batchSize: batchSize, dropLast: dropLast)
        self.numWorkers = numWorkers
        self.prefetchFactor = prefetchFactor
        self.generator = generator ?? RandomGenerator(seed: RandomGenerator.default.generate(1) { $0() }[0])
        self.collate = collate
    }

    /// The number of batches per epoch.
    public var count: Int { batchSampler.batchCount(datasetCount: dataset.count) }

    /// The batches and per-batch seeds of the next epoch (advances `generator`).
    public func nextEpochPlan() -> [(indices: [Int], seed: UInt64)] {
        let batches = batchSampler.batches(count: dataset.count, generator: generator)
        let seeds = generator.generate(batches.count) { $0() }
        return Array(zip(batches, seeds)).map { (indices: $0.0, seed: $0.1) }
    }

    /// Reads one batch: the samples at `indices`, collated, with `DataRandom.generator` seeded by `seed`.
    public func loadBatch(_ indices: [Int], seed: UInt64) throws -> Batch {
        try DataRandom.$generator.withValue(RandomGenerator(seed: seed)) {
            try withNoGrad { try collate(indices.map { try dataset[$0] }) }
        }
    }

    /// An iterator over the next epoch's batches. `skipping` leaves out the first batches
    /// without reading them (to resume an epoch from a checkpoint).
    public func epoch(skipping: Int = 0) -> DataLoaderIterator<Batch> {
        let plan = Array(nextEpochPlan().dropFirst(skipping))
        let load: @Sendable (Int) throws -> Batch = { [self] position in try loadBatch(plan[position].indices, seed: plan[position].seed) }
        if numWorkers == 0 || plan.isEmpty { return DataLoaderIterator(count: plan.count, load: load, prefetcher: nil) }
        let prefetcher = BatchPrefetcher<Batch>(count: plan.count, workers: min(numWorkers, plan.count),
                                                window: numWorkers * prefetchFactor, load: load)
        return DataLoaderIterator(count: plan.count, load: load, prefetcher: PrefetchHandle(prefetcher))
    }
}

extension DataLoader where Source.Element: Collatable, Batch == Source.Element {
    /// A loader that batches with `Source.Element.collate` (tensors, arrays and dictionaries of them).
    public convenience init(_ dataset: Source, batchSize: Int = 1, shuffle: Bool = false, sampler: (any Sampler)? = nil,
                            batchSampler: BatchSampler? = nil, dropLast: Bool = false, numWorkers: Int = 0,
                            prefetchFactor: Int = 2, generator: RandomGenerator? = nil) {
        self.init(dataset, batchSize: batchSize, shuffle: shuffle, sampler: sampler, batchSampler: batchSampler,
                  dropLast: dropLast, numWorkers: numWorkers, prefetchFactor: prefetchFactor, generator: generator,
                  collate: { try Source.Element.collate($0) })
    }
}

extension DataLoader {
    /// A loader over pairs (`(input, target)`) that collates each side.
    public convenience init<A: Collatable, B: Collatable>(
        _ dataset: Source, batchSize: Int = 1, shuffle: Bool = false, sampler: (any Sampler)? = nil,
        batchSampler: BatchSampler? = nil, dropLast: Bool = false, numWorkers: Int = 0, prefetchFactor: Int = 2,
        generator: RandomGenerator? = nil) where Source.Element == (A, B), Batch == (A, B) {
        self.init(dataset, batchSize: batchSize, shuffle: shuffle, sampler: sampler, batchSampler: batchSampler,
                  dropLast: dropLast, numWorkers: numWorkers, prefetchFactor: prefetchFactor, generator: generator,
                  collate: { try collatePairs($0) })
    }

    /// A loader over triples that collates each element.
    public convenience init<A: Collatable, B: Collatable, C: Collatable>(
        _ dataset: Source, batchSize: Int = 1, shuffle: Bool = false, sampler: (any Sampler)? = nil,
        batchSampler: BatchSampler? = nil, dropLast: Bool = false, numWorkers: Int = 0, prefetchFactor: Int = 2,
        generator: RandomGenerator? = nil) where Source.Element == (A, B, C), Batch == (A, B, C) {
        self.init(dataset, batchSize: batchSize, shuffle: shuffle, sampler: sampler, batchSampler: batchSampler,
                  dropLast: dropLast, numWorkers: numWorkers, prefetchFactor: prefetchFactor, generator: generator,
                  collate: { try collateTriples($0) })
    }
}

/// The random generator that random transforms use while a batch is read: the data loader
/// binds it to a generator seeded for that batch; outside a loader it is `RandomGenerator.default`.
public enum DataRandom {
    @TaskLocal public static var generator: RandomGenerator = .default
}

/// One epoch of batches. `next()` returns nil at the end and rethrows a dataset's error.
public struct DataLoaderIterator<Batch: SendableMetatype> {
    /// The number of batches in this epoch (after any skipped ones).
    public let count: Int
    let load: (Int) throws -> Batch
    let prefetcher: PrefetchHandle<Batch>?
    var position = 0

    init(count: Int, load: @escaping (Int) throws -> Batch, prefetcher: PrefetchHandle<Batch>?) {
        self.count = count
        self.load = load
        self.prefetcher = prefetcher
    }

    /// The next batch, nil after the last.
    public mutating func next() throws -> Batch? {
        guard position < count else { return nil }
        defer { position += 1 }
        if let prefetcher { return try prefetcher.prefetcher.take(position) }
        return try load(position)
    }
}

/// Worker threads that read batches `0..<count` ahead of the consumer, at most `window` ahead.
/// Results are kept by position, so the consumer sees them in order whatever thread finishes
/// first. Stops (and lets its threads end) when the consumer hits an error or goes away.
final class BatchPrefetcher<Batch: SendableMetatype>: @unchecked Sendable {
    // Invariant for @unchecked Sendable: every mutable property is read and written only with
    // `condition` locked.
    private let condition = NSCondition()
    private var results: [Int: Result<Batch, any Error>] = [:]
    private var nextToClaim = 0
    private var nextToTake = 0
    private var stopped = false
    private let count: Int
    private let window: Int

    init(count: Int, workers: Int, window: Int, load: @escaping @Sendable (Int) throws -> Batch) {
        self.count = count
        self.window = window
        for _ in 0..<workers {
            let thread = Thread { [self] in work(load) }
            thread.name = "ember.dataloader"
            thread.start()
        }
    }

    private func work(_ load: (Int) throws -> Batch) {
        condition.lock()
        while true {
            while !stopped && nextToClaim < count && nextToClaim >= nextToTake + window { condition.wait() }
            if stopped || nextToClaim >= count { break }
            let position = nextToClaim
            nextToClaim += 1
            condition.unlock()
            let result = Result { try load(position) }
            condition.lock()
            if case .failure = result { nextToClaim = count }   // no point reading further
            results[position] = result
            condition.broadcast()
        }
        condition.unlock()
    }

    func take(_ position: Int) throws -> Batch {
        condition.lock()
        defer { condition.unlock() }
        precondition(position == nextToTake, "BatchPrefetcher: batches are taken in order")
        while results[position] == nil { condition.wait() }
        let result = results.removeValue(forKey: position)!
        nextToTake += 1
        condition.broadcast()
        switch result {
        case .success(let batch): return batch
        case .failure(let error):
            stopped = true
            throw error
        }
    }

    /// Lets the workers finish: called when the iterator is dropped before the end.
    func stop() {
        condition.lock()
        stopped = true
        results.removeAll()
        condition.broadcast()
        condition.unlock()
    }
}

/// Owned by the iterator only (the worker threads hold the prefetcher itself): when the
/// iterator goes away, the workers are told to stop instead of waiting forever for room.
final class PrefetchHandle<Batch: SendableMetatype> {
    let prefetcher: BatchPrefetcher<Batch>
    init(_ prefetcher: BatchPrefetcher<Batch>) { self.prefetcher = prefetcher }
    deinit { prefetcher.stop() }
}

/// Batches of an `IterableDataset`, in the order the stream gives them (no shuffling or
/// workers: a stream has no indices to share out).
///
///     let loader = IterableDataLoader(stream, batchSize: 32) { try Tensor.collate($0) }
///     var batches = try loader.epoch()
///     while let batch = try batches.next() { … }
public struct IterableDataLoader<Source: IterableDataset, Batch> {
    public let dataset: Source
    public let batchSize: Int
    public let dropLast: Bool
    let collate: ([Source.Element]) throws -> Batch

    public init(_ dataset: Source, batchSize: Int = 1, dropLast: Bool = false, collate: @escaping ([Source.Element]) throws -> Batch) {
        emberPrecondition(batchSize > 0, "IterableDataLoader: batchSize should be a positive integer value, but got batchSize=\(batchSize)")
        self.dataset = dataset
        self.batchSize = batchSize
        self.dropLast = dropLast
        self.collate = collate
    }

    /// A pass over the stream.
    public func epoch() throws -> Iterator { Iterator(samples: try dataset.makeSampleIterator(), loader: self) }

    public struct Iterator {
        var samples: AnyIterator<Source.Element>
        let loader: IterableDataLoader

        /// The next batch, nil when the stream ends (a short last batch unless `dropLast`).
        public mutating func next() throws -> Batch? {
            var batch: [Source.Element] = []
            while batch.count < loader.batchSize, let sample = samples.next() { batch.append(sample) }
            if batch.isEmpty || (loader.dropLast && batch.count < loader.batchSize) { return nil }
            return try loader.collate(batch)
        }
    }
}
