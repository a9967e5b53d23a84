import Foundation

/// The order in which a `DataLoader` reads sample indices, like `torch.utils.data.Sampler`.
/// A sampler draws from the generator it is given, so that one seeded generator owned by the
/// loader fixes the order of every epoch (and a checkpoint can restore it).
public protocol Sampler: Sendable {
    /// The indices of one epoch, in order.
    func indices(count: Int, generator: RandomGenerator) -> [Int]
    /// How many indices `indices(count:generator:)` returns, without drawing.
    func sampleCount(datasetCount: Int) -> Int
}

extension Sampler {
    public func sampleCount(datasetCount: Int) -> Int { datasetCount }
}

/// `0, 1, 2, …`.
public struct SequentialSampler: Sampler {
    public init() {}
    public func indices(count: Int, generator: RandomGenerator) -> [Int] { Array(0..<count) }
}

/// A random permutation each epoch, or `numSamples` draws with replacement.
///
///     DataLoader(data, batchSize: 32, sampler: RandomSampler(replacement: true, numSamples: 1000))
public struct RandomSampler: Sampler {
    public let replacement: Bool
    public let numSamples: Int?

    public init(replacement: Bool = false, numSamples: Int? = nil) {
        emberPrecondition(replacement || numSamples == nil || numSamples! >= 0, "RandomSampler: numSamples must be non-negative")
        self.replacement = replacement
        self.numSamples = numSamples
    }

    public func sampleCount(datasetCount: Int) -> Int { numSamples ?? datasetCount }

    public func indices(count: Int, generator: RandomGenerator) -> [Int] {
        let wanted = numSamples ?? count
        if replacement {
            guard count > 0 else { return [] }
            return generator.generate(wanted) { next in Int(RandomGenerator.bounded(UInt64(count), next)) }
        }
        var order: [Int] = []
        while order.count < wanted { order += randomPermutation(count, generator: generator) }
        return Array(order.prefix(wanted))
    }
}

/// Draws `numSamples` indices with probability proportional to `weights` (to balance classes),
/// like `torch.utils.data.WeightedRandomSampler`.
///
///     let weights = labels.map { 1 / classFrequency[$0] }
///     let sampler = WeightedRandomSampler(weights: weights, numSamples: labels.count)
public struct WeightedRandomSampler: Sampler {
    public let weights: [Double]
    public let numSamples: Int
    public let replacement: Bool

    public init(weights: [Double], numSamples: Int, replacement: Bool = true) {
        emberPrecondition(weights.allSatisfy { $0 >= 0 && $0.isFinite } && weights.contains { $0 > 0 },
                          "WeightedRandomSampler: weights must be finite, non-negative and not all zero")
        emberPrecondition(replacement || numSamples <= weights.filter { $0 > 0 }.count,
                          "WeightedRandomSampler: cannot draw \(numSamples) samples without replacement from \(weights.filter { $0 > 0 }.count) non-zero weights")
        self.weights = weights
        self.numSamples = numSamples
        self.replacement = replacement
    }

    public func sampleCount(datasetCount: Int) -> Int { numSamples }

    public func indices(count: Int, generator: RandomGenerator) -> [Int] {
        var weights = self.weights
        var result: [Int] = []
        result.reserveCapacity(numSamples)
        var cumulative = [Double](repeating: 0, count: weights.count)
        func rebuild() {
            var total = 0.0
            for (i, weight) in weights.enumerated() { total += weight; cumulative[i] = total }
        }
        rebuild()
        for _ in 0..<numSamples {
            let u = generator.generate(1) { RandomGenerator.unitDouble($0()) }[0] * cumulative[cumulative.count - 1]
            // First index whose cumulative weight exceeds u.
            var low = 0, high = cumulative.count - 1
            while low < high {
                let middle = (low + high) / 2
                if cumulative[middle] > u { high = middle } else { low = middle + 1 }
            }
            while weights[low] == 0 { low += 1 }   // u landed exactly on a boundary
            result.append(low)
            if !replacement { weights[low] = 0; rebuild() }
        }
        return result
    }
}

/// Groups another sampler's indices into batches, like `torch.utils.data.BatchSampler`.
///
///     BatchSampler(RandomSampler(), batchSize: 4, dropLast: true).batches(count: 10, generator: g)
///     // two batches of 4 indices
public struct BatchSampler: Sendable {
    public let sampler: any Sampler
    public let batchSize: Int
    public let dropLast: Bool

    public init(_ sampler: any Sampler, batchSize: Int, dropLast: Bool = false) {
        emberPrecondition(batchSize > 0, "BatchSampler: batchSize should be a positive integer value, but got batchSize=\(batchSize)")
        self.sampler = sampler
        self.batchSize = batchSize
        self.dropLast = dropLast
    }

    /// The number of batches in an epoch over `count` samples.
    public func batchCount(datasetCount: Int) -> Int {
        let samples = sampler.sampleCount(datasetCount: datasetCount)
        return dropLast ? samples / batchSize : (samples + batchSize - 1) / batchSize
    }

    /// The batches of one epoch.
    public func batches(count: Int, generator: RandomGenerator) -> [[Int]] {
        let indices = sampler.indices(count: count, generator: generator)
        var batches: [[Int]] = []
        var start = 0
        while start < indices.count {
            let end = min(start + batchSize, indices.count)
            if end - start < batchSize && dropLast { break }
            batches.append(Array(indices[start..<end]))
            start = end
        }
        return batches
    }
}
