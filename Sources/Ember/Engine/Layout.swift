/// How a tensor's elements sit in its storage: shape, strides (in elements) and the offset of
/// the first element. Every view operation is a function from one layout to another.
public struct Layout: Sendable, Equatable {
    public let shape: [Int]
    public let strides: [Int]
    public let offset: Int

    public init(shape: [Int], strides: [Int], offset: Int = 0) {
        self.shape = shape
        self.strides = strides
        self.offset = offset
    }

    /// A row-major (C order) layout for `shape`.
    public init(contiguous shape: [Int]) {
        self.init(shape: shape, strides: Layout.contiguousStrides(for: shape), offset: 0)
    }

    public var rank: Int { shape.count }

    /// The layout of a 0-d tensor (shared, so scalars allocate no arrays).
    static let scalar = Layout(shape: [], strides: [], offset: 0)

    /// Number of elements.
    public var count: Int {
        var n = 1
        for size in shape { n &*= size }
        return n
    }

    /// Row-major strides for `shape`.
    public static func contiguousStrides(for shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running &*= max(shape[axis], 1)
        }
        return strides
    }

    /// True when the elements are in row-major order with no gaps (size-1 dims are ignored).
    public var isContiguous: Bool {
        var expected = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            let size = shape[axis]
            if size == 0 { return true }
            if size != 1 {
                if strides[axis] != expected { return false }
                expected &*= size
            }
        }
        return true
    }

    /// The span of storage elements the layout touches, relative to `offset` (for bounds checks).
    var storageSpan: (low: Int, high: Int) {
        var low = 0, high = 0
        for (size, stride) in zip(shape, strides) where size > 0 {
            if stride >= 0 { high += (size - 1) * stride } else { low += (size - 1) * stride }
        }
        return (low, high)
    }
}

// MARK: - Broadcasting

enum Broadcast {
    /// The broadcast shape of two shapes, or a PyTorch-style message naming `op`.
    static func shape(_ a: [Int], _ b: [Int], op: String) -> [Int] {
        if a == b || b.isEmpty { return a }
        if a.isEmpty { return b }
        let rank = max(a.count, b.count)
        var result = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let x = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let y = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            if x == y || y == 1 {
                result[i] = x
            } else if x == 1 {
                result[i] = y
            } else {
                emberFailure("\(op): the size of tensor a (\(x)) must match the size of tensor b (\(y)) at non-singleton dimension \(i); shapes \(a) and \(b) cannot be broadcast")
            }
        }
        return result
    }

    /// Strides that read `layout` as if it had `shape` (0 along broadcast dimensions).
    static func strides(of layout: Layout, to shape: [Int]) -> [Int] {
        let pad = shape.count - layout.rank
        var strides = [Int](repeating: 0, count: shape.count)
        for i in 0..<layout.rank where layout.shape[i] != 1 || shape[i + pad] == 1 {
            strides[i + pad] = layout.strides[i]
        }
        return strides
    }
}

// MARK: - Dimension coalescing

/// Merges adjacent dimensions that are contiguous with each other in every operand, so that
/// kernels see as few (and as long) inner loops as possible: a contiguous [64, 128, 128]
/// elementwise op becomes one loop of 1M elements.
struct CoalescedLoop {
    var shape: [Int64]
    var strides: [[Int64]]   // one array per operand

    init(shape: [Int], strides operandStrides: [[Int]]) {
        var newShape: [Int64] = []
        var newStrides: [[Int64]] = Array(repeating: [], count: operandStrides.count)
        for axis in 0..<shape.count where shape[axis] != 1 {
            let size = shape[axis]
            if let last = newShape.last {
                let lastIndex = newShape.count - 1
                var mergeable = true
                for op in 0..<operandStrides.count
                where newStrides[op][lastIndex] != Int64(operandStrides[op][axis] * size) {
                    mergeable = false
                    break
                }
                if mergeable {
                    newShape[lastIndex] = last * Int64(size)
                    for op in 0..<operandStrides.count {
                        newStrides[op][lastIndex] = Int64(operandStrides[op][axis])
                    }
                    continue
                }
            }
            newShape.append(Int64(size))
            for op in 0..<operandStrides.count { newStrides[op].append(Int64(operandStrides[op][axis])) }
        }
        if shape.contains(0) {
            newShape = [0]
            newStrides = Array(repeating: [1], count: operandStrides.count)
        }
        self.shape = newShape
        self.strides = newStrides
    }

    var rank: Int { shape.count }
}
