import Foundation

/// A seedable random number generator (xoshiro256**, seeded through SplitMix64), so that
/// `manualSeed` gives the same numbers on every run and every machine.
///
///     let generator = RandomGenerator(seed: 42)
///     let x = Tensor.randn([3], generator: generator)
public final class RandomGenerator: @unchecked Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private let lock = NSLock()

    public init(seed: UInt64) { reseed(seed) }

    /// Restarts the sequence from `seed`.
    public func reseed(_ seed: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// The generator's full state, for checkpoints.
    public var stateWords: [UInt64] {
        get { lock.lock(); defer { lock.unlock() }; return [state.0, state.1, state.2, state.3] }
        set {
            emberPrecondition(newValue.count == 4, "RandomGenerator: state must have 4 words (got \(newValue.count))")
            // xoshiro's all-zero state is a fixed point: it would return zeros forever.
            emberPrecondition(newValue.contains { $0 != 0 }, "RandomGenerator: state must not be all zero")
            lock.lock(); defer { lock.unlock() }
            state = (newValue[0], newValue[1], newValue[2], newValue[3])
        }
    }

    @inline(__always)
    private func nextUnlocked() -> UInt64 {
        let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = (state.3 << 45) | (state.3 >> 19)
        return result
    }

    /// Fills `count` values with `body(next)` under one lock acquisition.
    func generate<T>(_ count: Int, _ body: (() -> UInt64) -> T) -> [T] {
        if Tracing.isActive { Tracing.noteRandom("a random generator") }
        lock.lock()
        defer { lock.unlock() }
        return (0..<count).map { _ in body(nextUnlocked) }
    }

    /// A uniform Double in [0, 1) with 53 random bits.
    static func unitDouble(_ bits: UInt64) -> Double { Double(bits >> 11) * 0x1.0p-53 }

    /// A uniform value in [0, 1) with as many random bits as `dtype` has significand bits, as
    /// PyTorch does. Why not `unitDouble` converted to the dtype: rounding to float32, and much
    /// more often to bfloat16 (1 in 512 draws), turns values just below 1 into exactly 1.
    static func unitValue(_ bits: UInt64, significandBits: Int) -> Double {
        Double(bits >> UInt64(64 - significandBits)) * Double(sign: .plus, exponent: -significandBits, significand: 1)
    }

    /// A uniform integer in `0..<range` (range > 0) without modulo bias: draws whose value falls
    /// in the incomplete last block of `range` values are rejected.
    static func bounded(_ range: UInt64, _ next: () -> UInt64) -> UInt64 {
        let limit = UInt64.max - (UInt64.max % range + 1) % range   // largest multiple of range, minus 1
        var bits = next()
        while bits > limit { bits = next() }
        return bits % range
    }

    /// The generator that factories use when none is given.
    public static let `default` = RandomGenerator(seed: 0x5EED)
}

/// Seeds the default generator: every random factory afterwards is reproducible.
///
///     manualSeed(0)
public func manualSeed(_ seed: UInt64) { RandomGenerator.default.reseed(seed) }

extension DType {
    /// Significand bits including the implicit one (`std::numeric_limits<T>::digits`).
    var significandBits: Int {
        switch self {
        case .float64: return 53
        case .float32: return 24
        case .float16: return 11
        case .bfloat16: return 8
        default: return 0
        }
    }
}

extension Tensor {
    /// Uniform values in [0, 1), in the default float type unless `dtype` says otherwise.
    ///
    ///     manualSeed(0)
    ///     let noise = Tensor.rand([2, 3])
    public static func rand(_ shape: [Int], dtype: DType? = nil, generator: RandomGenerator = .default,
                            requiresGrad: Bool = false) -> Tensor {
        let dtype = dtype ?? DType.defaultFloat
        emberPrecondition(dtype.isFloatingPoint, "rand: expected a floating-point dtype, got \(dtype)")
        emberPrecondition(shape.allSatisfy { $0 >= 0 }, "rand: negative dimension in shape \(shape)")
        let bits = dtype.significandBits
        let values = generator.generate(shape.reduce(1, *)) { next in RandomGenerator.unitValue(next(), significandBits: bits) }
        let result = Tensor(shape: shape, scalars: values).to(dtype)
        if requiresGrad { result.requiresGrad = true }
        return result
    }

    /// Standard normal values (Box–Muller), in the default float type unless `dtype` says otherwise.
    public static func randn(_ shape: [Int], dtype: DType? = nil, generator: RandomGenerator = .default,
                             requiresGrad: Bool = false) -> Tensor {
        let dtype = dtype ?? DType.defaultFloat
        emberPrecondition(dtype.isFloatingPoint, "randn: expected a floating-point dtype, got \(dtype)")
        emberPrecondition(shape.allSatisfy { $0 >= 0 }, "randn: negative dimension in shape \(shape)")
        let count = shape.reduce(1, *)
        let pairs = generator.generate((count + 1) / 2) { next -> (Double, Double) in
            let u1 = 1 - RandomGenerator.unitDouble(next())      // (0, 1]: log is finite
            let u2 = RandomGenerator.unitDouble(next())
            let radius = Foundation.sqrt(-2 * Foundation.log(u1))
            return (radius * Foundation.cos(2 * .pi * u2), radius * Foundation.sin(2 * .pi * u2))
        }
        var values = [Double]()
        values.reserveCapacity(count + 1)
        for pair in pairs { values.append(pair.0); values.append(pair.1) }
        let result = Tensor(shape: shape, scalars: Array(values.prefix(count))).to(dtype)
        if requiresGrad { result.requiresGrad = true }
        return result
    }

    /// Uniform integers in `low..<high` (int64 by default).
    ///
    ///     Tensor.randint(0, 10, [3])   // e.g. [7, 0, 3]
    public static func randint(_ low: Int, _ high: Int, _ shape: [Int], dtype: DType = .int64,
                               generator: RandomGenerator = .default) -> Tensor {
        emberPrecondition(high > low, "randint: expected low < high, but got low=\(low), high=\(high)")
        emberPrecondition(shape.allSatisfy { $0 >= 0 }, "randint: negative dimension in shape \(shape)")
        // Wrapping arithmetic: high - low may exceed Int.max (e.g. Int.min..<Int.max).
        let range = UInt64(bitPattern: Int64(high) &- Int64(low))
        let values = generator.generate(shape.reduce(1, *)) { next -> Int64 in
            Int64(low) &+ Int64(bitPattern: RandomGenerator.bounded(range, next))
        }
        return Tensor(shape: shape, scalars: values).to(dtype)
    }

    /// 1 with probability p (each element of `self`), else 0; same shape and dtype as `self`.
    ///
    ///     Tensor.full([4], 0.5).bernoulli()
    public func bernoulli(generator: RandomGenerator = .default) -> Tensor {
        if Tracing.isActive { Tracing.noteRandom("bernoulli") }
        let probabilities = withoutGrad { self.scalars(as: Double.self) }
        emberPrecondition(probabilities.allSatisfy { $0 >= 0 && $0 <= 1 }, "bernoulli: expected all probabilities to be in [0, 1]")
        var index = 0
        let values = generator.generate(count) { next -> Double in
            defer { index += 1 }
            return RandomGenerator.unitDouble(next()) < probabilities[index] ? 1 : 0
        }
        return Tensor(shape: shape, scalars: values).to(dtype)
    }

    /// Each element 1 with probability `p`.
    ///
    ///     let mask = Tensor.bernoulli([4, 4], p: 0.9)
    public static func bernoulli(_ shape: [Int], p: Double, dtype: DType? = nil,
                                 generator: RandomGenerator = .default) -> Tensor {
        Tensor.full(shape, p, dtype: .float64).bernoulli(generator: generator).to(dtype ?? DType.defaultFloat)
    }

    /// A random permutation of `0..<n` (Fisher–Yates with unbiased draws), int64.
    ///
    ///     Tensor.randperm(4)   // e.g. [2, 0, 3, 1]
    public static func randperm(_ n: Int, generator: RandomGenerator = .default) -> Tensor {
        emberPrecondition(n >= 0, "randperm: expected a non-negative n, got \(n)")
        var values = Array(0..<n)
        var i = n - 1
        let swaps = generator.generate(Swift.max(n - 1, 0)) { next -> Int in
            defer { i -= 1 }
            return Int(RandomGenerator.bounded(UInt64(i + 1), next))   // j in 0...i
        }
        for (step, j) in swaps.enumerated() { values.swapAt(n - 1 - step, j) }
        return Tensor(shape: [n], scalars: values)
    }
}
