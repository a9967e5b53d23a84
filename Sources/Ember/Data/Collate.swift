import Foundation

/// A sample type that `DataLoader` knows how to batch: tensors are stacked along a new first
/// dimension, and containers of them are batched element by element, like PyTorch's
/// `default_collate`. Tuples of collatable values are handled by `DataLoader`'s initialisers
/// (Swift tuples cannot conform to protocols).
///
///     Tensor.collate([Tensor([1, 2] as [Float]), Tensor([3, 4] as [Float])])   // [[1, 2], [3, 4]]
///     [String: Tensor].collate([["x": a], ["x": b]])                          // ["x": stack([a, b])]
public protocol Collatable: SendableMetatype {
    /// The batch made of `samples` (never empty).
    static func collate(_ samples: [Self]) throws -> Self
}

/// Thrown when samples of one batch cannot be put together.
public struct CollateError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

extension Tensor: Collatable {
    /// Stacks the samples along a new first dimension (they must share shape and dtype).
    public static func collate(_ samples: [Tensor]) throws -> Tensor {
        guard let first = samples.first else { throw CollateError(description: "collate: empty batch") }
        if let other = samples.first(where: { $0.shape != first.shape }) {
            throw CollateError(description: "collate: stack expects each tensor to be equal size, but got \(first.shape) and \(other.shape)")
        }
        return Tensor.stack(samples.map { $0.dtype == first.dtype ? $0 : $0.to(first.dtype) })
    }
}

extension Array: Collatable where Element: Collatable {
    /// Batches position by position: `[[a0, b0], [a1, b1]]` becomes `[collate([a0, a1]), collate([b0, b1])]`.
    public static func collate(_ samples: [[Element]]) throws -> [Element] {
        guard let first = samples.first else { throw CollateError(description: "collate: empty batch") }
        guard samples.allSatisfy({ $0.count == first.count }) else {
            throw CollateError(description: "collate: each element in list of batch should be of equal size")
        }
        return try (0..<first.count).map { position in try Element.collate(samples.map { $0[position] }) }
    }
}

extension Dictionary: Collatable where Value: Collatable {
    /// Batches key by key; every sample must have the same keys.
    public static func collate(_ samples: [[Key: Value]]) throws -> [Key: Value] {
        guard let first = samples.first else { throw CollateError(description: "collate: empty batch") }
        var result: [Key: Value] = [:]
        for key in first.keys {
            result[key] = try Value.collate(samples.map { sample in
                guard let value = sample[key] else { throw CollateError(description: "collate: a sample lacks the key '\(key)'") }
                return value
            })
        }
        return result
    }
}

/// Collates pairs element by element: `[(x0, y0), (x1, y1)]` → `(collate([x0, x1]), collate([y0, y1]))`.
public func collatePairs<A: Collatable, B: Collatable>(_ samples: [(A, B)]) throws -> (A, B) {
    (try A.collate(samples.map(\.0)), try B.collate(samples.map(\.1)))
}

/// Collates triples element by element.
public func collateTriples<A: Collatable, B: Collatable, C: Collatable>(_ samples: [(A, B, C)]) throws -> (A, B, C) {
    (try A.collate(samples.map(\.0)), try B.collate(samples.map(\.1)), try C.collate(samples.map(\.2)))
}
