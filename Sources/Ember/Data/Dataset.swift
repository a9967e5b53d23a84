import Foundation

/// A map-style dataset: `count` samples reachable by index, like `torch.utils.data.Dataset`.
///
/// Reading a sample may throw (a file that went missing, a corrupt record); the data loader
/// hands such errors to the training loop. Datasets are read from the loader's worker threads,
/// so they must be `Sendable`: keep them immutable after set-up.
///
///     let data = TensorDataset(inputs, targets)
///     let (x, y) = try data[0]
public protocol Dataset: Sendable {
    /// One sample: a tensor, a tuple of tensors, an array or dictionary of them…
    associatedtype Element
    /// The number of samples.
    var count: Int { get }
    /// The sample at `index` (`0..<count`).
    subscript(index: Int) -> Element { get throws }
}

/// A stream of samples that cannot be indexed, like `torch.utils.data.IterableDataset`
/// (lines of a log, a generator). `DataLoader` batches it in order, on the calling thread.
///
///     struct Counting: IterableDataset {
///         func makeSampleIterator() -> AnyIterator<Tensor> {
///             var i = 0
///             return AnyIterator { i < 10 ? { defer { i += 1 }; return Tensor(Float(i)) }() : nil }
///         }
///     }
public protocol IterableDataset: Sendable {
    associatedtype Element
    /// A fresh pass over the samples.
    func makeSampleIterator() throws -> AnyIterator<Element>
}

/// Tensors indexed along their first dimension, like `torch.utils.data.TensorDataset`:
/// sample `i` is `(inputs[i], targets[i])`.
///
///     let data = TensorDataset(Tensor.randn([100, 4]), Tensor.randint(0, 2, [100]))
public struct TensorDataset: Dataset {
    public let inputs: Tensor
    public let targets: Tensor

    public init(_ inputs: Tensor, _ targets: Tensor) {
        emberPrecondition(inputs.rank >= 1 && targets.rank >= 1 && inputs.shape[0] == targets.shape[0],
                          "TensorDataset: size mismatch between tensors (\(inputs.shape) and \(targets.shape))")
        self.inputs = inputs
        self.targets = targets
    }

    public var count: Int { inputs.shape[0] }

    public subscript(index: Int) -> (Tensor, Tensor) {
        emberPrecondition(index >= 0 && index < count, "TensorDataset: index \(index) is out of range for \(count) samples")
        return (inputs[index], targets[index])
    }
}

/// A dataset of images (`[N, C, H, W]`, float32) and class labels (`[N]`, int64) with an
/// optional transform applied to each image as it is read. Every built-in dataset is one.
///
///     let digits = try Datasets.digits()
///     let (image, label) = try digits[0]   // [1, 8, 8] in 0…1, a 0-d int64 tensor
public struct LabeledDataset: Dataset {
    /// All samples, `[N, …]`.
    public let inputs: Tensor
    /// Class indices, `[N]` int64.
    public let labels: Tensor
    /// The class names, in label order.
    public let classes: [String]
    /// Applied to each input when it is read (data augmentation, normalisation).
    public let transform: (any Transform)?

    public init(inputs: Tensor, labels: Tensor, classes: [String], transform: (any Transform)? = nil) {
        emberPrecondition(inputs.rank >= 1 && labels.rank == 1 && inputs.shape[0] == labels.shape[0],
                          "LabeledDataset: \(inputs.shape[0]) inputs but labels of shape \(labels.shape)")
        self.inputs = inputs
        self.labels = labels.dtype == .int64 ? labels : labels.to(.int64)
        self.classes = classes
        self.transform = transform
    }

    public var count: Int { inputs.shape[0] }

    /// The shape of one input after the transform (for building models).
    public var sampleShape: [Int] { Array(inputs.shape.dropFirst()) }

    public subscript(index: Int) -> (Tensor, Tensor) {
        emberPrecondition(index >= 0 && index < count, "LabeledDataset: index \(index) is out of range for \(count) samples")
        let input = inputs[index]
        return (transform.map { $0(input) } ?? input, labels[index])
    }

    /// The same samples with another transform.
    public func withTransform(_ transform: (any Transform)?) -> LabeledDataset {
        LabeledDataset(inputs: inputs, labels: labels, classes: classes, transform: transform)
    }

    /// The samples at `indices`, as a new dataset holding copies (no transform applied).
    public func selecting(_ indices: [Int]) -> LabeledDataset {
        let index = Tensor(indices.map(Int64.init))
        return LabeledDataset(inputs: inputs.indexSelect(dim: 0, index: index), labels: labels.indexSelect(dim: 0, index: index),
                              classes: classes, transform: transform)
    }
}

/// The samples of `base` at `indices`, like `torch.utils.data.Subset`.
///
///     let firstHundred = Subset(data, indices: Array(0..<100))
public struct Subset<Base: Dataset>: Dataset {
    public let base: Base
    public let indices: [Int]

    public init(_ base: Base, indices: [Int]) {
        emberPrecondition(indices.allSatisfy { $0 >= 0 && $0 < base.count },
                          "Subset: an index is out of range for a dataset of \(base.count) samples")
        self.base = base
        self.indices = indices
    }

    public var count: Int { indices.count }
    public subscript(index: Int) -> Base.Element { get throws { try base[indices[index]] } }
}

/// Datasets one after the other, like `torch.utils.data.ConcatDataset`.
///
///     let all = ConcatDataset([trainPart, extraPart])
public struct ConcatDataset<Base: Dataset>: Dataset {
    public let parts: [Base]
    /// `cumulativeCounts[i]` is the number of samples in `parts[0...i]`.
    public let cumulativeCounts: [Int]

    public init(_ parts: [Base]) {
        self.parts = parts
        var total = 0
        cumulativeCounts = parts.map { total += $0.count; return total }
    }

    public var count: Int { cumulativeCounts.last ?? 0 }

    public subscript(index: Int) -> Base.Element {
        get throws {
            emberPrecondition(index >= 0 && index < count, "ConcatDataset: index \(index) is out of range for \(count) samples")
            // Binary search for the first part whose cumulative count exceeds the index.
            var low = 0, high = cumulativeCounts.count - 1
            while low < high {
                let middle = (low + high) / 2
                if cumulativeCounts[middle] > index { high = middle } else { low = middle + 1 }
            }
            let start = low == 0 ? 0 : cumulativeCounts[low - 1]
            return try parts[low][index - start]
        }
    }
}

/// Applies `body` to every sample of `base` as it is read (a lazy `map`).
///
///     let flattened = MapDataset(data) { x, y in (x.flattened(), y) }
public struct MapDataset<Base: Dataset, Element>: Dataset {
    public let base: Base
    public let body: @Sendable (Base.Element) throws -> Element

    public init(_ base: Base, _ body: @escaping @Sendable (Base.Element) throws -> Element) {
        self.base = base
        self.body = body
    }

    public var count: Int { base.count }
    public subscript(index: Int) -> Element { get throws { try body(try base[index]) } }
}

/// Splits `dataset` into non-overlapping subsets of the given lengths, in a random order
/// drawn from `generator`, like `torch.utils.data.random_split`. Lengths may be fractions
/// that sum to 1 (`[0.8, 0.2]`); the remainder of rounding goes to the first parts in turn.
///
///     let parts = randomSplit(digits, lengths: [0.8, 0.2], generator: RandomGenerator(seed: 0))
public func randomSplit<D: Dataset>(_ dataset: D, lengths: [Double], generator: RandomGenerator = .default) -> [Subset<D>] {
    let total = dataset.count
    var sizes: [Int]
    if lengths.allSatisfy({ $0 >= 0 && $0 <= 1 }) && abs(lengths.reduce(0, +) - 1) < 1e-9 && lengths.contains(where: { $0 != $0.rounded() || $0 == 0 }) {
        sizes = lengths.map { Int((Double(total) * $0).rounded(.down)) }
        var remainder = total - sizes.reduce(0, +)
        var i = 0
        while remainder > 0 { sizes[i % sizes.count] += 1; remainder -= 1; i += 1 }
    } else {
        sizes = lengths.map { Int($0) }
        emberPrecondition(lengths.allSatisfy { $0 == $0.rounded() && $0 >= 0 } && sizes.reduce(0, +) == total,
                          "randomSplit: sum of input lengths (\(sizes.reduce(0, +))) does not equal the length of the input dataset (\(total))")
    }
    let order = randomPermutation(total, generator: generator)
    var start = 0
    return sizes.map { size in
        defer { start += size }
        return Subset(dataset, indices: Array(order[start..<start + size]))
    }
}

/// A uniformly random permutation of `0..<count` (Fisher–Yates with unbiased draws).
func randomPermutation(_ count: Int, generator: RandomGenerator) -> [Int] {
    var order = Array(0..<count)
    for i in stride(from: count - 1, to: 0, by: -1) {
        let j = generator.generate(1) { Int(RandomGenerator.bounded(UInt64(i + 1), $0)) }[0]
        order.swapAt(i, j)
    }
    return order
}
