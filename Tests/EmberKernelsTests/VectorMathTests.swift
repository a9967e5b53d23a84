import CEmberKernels
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The vectorised float32 unary kernels (vector_math_avx2.c) against the scalar libm loop and
/// against Double references, on inputs that include every edge the scalar definitions cover.
/// Each op reports its maximum error in ulp (of the correctly rounded float result).
@Suite(.serialized) struct VectorMathTests {
    struct Case: Sendable, CustomStringConvertible {
        let op: ember_unary_op
        let name: String
        var p0 = 0.0, p1 = 0.0
        /// Allowed error of the vector kernel, in ulp of the exact result (0.5: correctly rounded).
        let maxUlp: Double
        let reference: @Sendable (Double) -> Double
        var description: String { name }
    }

    static func sigmoid(_ t: Double) -> Double { 1 / (1 + exp(-t)) }

    /// The op table: every operation the AVX2 file handles, with its Double reference.
    static let cases: [Case] = [
        Case(op: EMBER_EXP, name: "exp", maxUlp: 2) { exp($0) },
        Case(op: EMBER_EXP2, name: "exp2", maxUlp: 2) { exp2($0) },
        Case(op: EMBER_EXPM1, name: "expm1", maxUlp: 2) { expm1($0) },
        Case(op: EMBER_LOG, name: "log", maxUlp: 2) { log($0) },
        Case(op: EMBER_LOG2, name: "log2", maxUlp: 2) { log2($0) },
        Case(op: EMBER_LOG1P, name: "log1p", maxUlp: 2) { log1p($0) },
        Case(op: EMBER_TANH, name: "tanh", maxUlp: 2) { tanh($0) },
        Case(op: EMBER_SIGMOID, name: "sigmoid", maxUlp: 2) { sigmoid($0) },
        Case(op: EMBER_SILU, name: "silu", maxUlp: 3) { $0 * sigmoid($0) },
        Case(op: EMBER_GELU, name: "gelu", maxUlp: 3) { 0.5 * $0 * erfc(-$0 * 0.70710678118654752440) },
        Case(op: EMBER_GELU_TANH, name: "gelu_tanh", maxUlp: 3) {
            $0 * sigmoid(2 * 0.79788456080286535588 * ($0 + 0.044715 * $0 * $0 * $0))
        },
        Case(op: EMBER_ERF, name: "erf", maxUlp: 2) { erf($0) },
        Case(op: EMBER_SOFTPLUS, name: "softplus", p0: 1, p1: 20, maxUlp: 2) { $0 > 20 ? $0 : log1p(exp($0)) },
        Case(op: EMBER_SOFTPLUS, name: "softplus(beta 2, threshold 10)", p0: 2, p1: 10, maxUlp: 2) {
            2 * $0 > 10 ? $0 : log1p(exp(2 * $0)) / 2
        },
        Case(op: EMBER_ELU, name: "elu", p0: 1, maxUlp: 2) { $0 > 0 ? $0 : expm1($0) },
        Case(op: EMBER_NEG, name: "neg", maxUlp: 0.5) { -$0 },
        Case(op: EMBER_ABS, name: "abs", maxUlp: 0.5) { abs($0) },
        Case(op: EMBER_SQRT, name: "sqrt", maxUlp: 0.5) { sqrt($0) },
        Case(op: EMBER_RSQRT, name: "rsqrt", maxUlp: 1.5) { 1 / sqrt($0) },
        Case(op: EMBER_RECIPROCAL, name: "reciprocal", maxUlp: 0.5) { 1 / $0 },
        Case(op: EMBER_SQUARE, name: "square", maxUlp: 0.5) { $0 * $0 },
        Case(op: EMBER_RELU, name: "relu", maxUlp: 0.5) { $0 <= 0 ? 0 : $0 },
        Case(op: EMBER_LEAKY_RELU, name: "leaky_relu", p0: 0.01, maxUlp: 0.5) { $0 > 0 ? $0 : Double(Float(0.01)) * $0 },
        Case(op: EMBER_CLAMP, name: "clamp", p0: -1, p1: 2, maxUlp: 0.5) { $0.isNaN ? $0 : min(max($0, -1), 2) },
        Case(op: EMBER_FLOOR, name: "floor", maxUlp: 0.5) { $0.rounded(.down) },
        Case(op: EMBER_CEIL, name: "ceil", maxUlp: 0.5) { $0.rounded(.up) },
        Case(op: EMBER_ROUND, name: "round", maxUlp: 0.5) { $0.rounded(.toNearestOrEven) },
        Case(op: EMBER_TRUNC, name: "trunc", maxUlp: 0.5) { $0.rounded(.towardZero) },
        Case(op: EMBER_SIGN, name: "sign", maxUlp: 0.5) { $0 > 0 ? 1 : ($0 < 0 ? -1 : $0) },
    ]

    /// Edge values, a logarithmic sweep over the whole float range (both signs, denormals
    /// included), a dense sweep of the interesting range, and the overflow thresholds.
    static let inputs: [Float] = {
        var values: [Float] = [
            0, -0, .infinity, -.infinity, .nan, 1, -1, 0.5, -0.5, 2, -2,
            .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude, -.leastNormalMagnitude,
            .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 1e-30, -1e-30, 1e30, -1e30,
            88.72283, 88.72284, 88.7, 89, 89.5, -87.33654, -87.4, -103.97, -103.98, -104, -110, -120, -121, -150,
            127.99, 128, 128.01, -126, -149, -149.5, -150.1, 20, 20.001, 9, 9.1, 0.5493, -0.5493,
            0.70710677, -0.70710677, 3.92, -3.92, 4.5, -5.66, -10, -14, -14.9, -15, 1e12, -1e12, 1e13, -1e13,
        ]
        // Every 0x7a3b-th bit pattern: about 8,000 magnitudes per sign, denormals included.
        for bits in stride(from: UInt32(1), to: 0x7f80_0000, by: 0x0000_7a3b * 8) {
            values.append(Float(bitPattern: bits))
            values.append(-Float(bitPattern: bits))
        }
        for i in 0...4000 { values.append(-20 + 40 * Float(i) / 4000) }
        for i in 0...400 { values.append(1 + Float(i - 200) * 0x1p-20) } // log near 1
        for i in 0...400 { values.append(-1 + Float(i) * 0x1p-12) }      // log1p near -1
        return values
    }()

    /// Runs the kernel at the given instruction-set level (-1: the detected one, 0: generic).
    static func run(_ c: Case, _ x: [Float], level: Int32) -> [Float] {
        var y = [Float](repeating: 0, count: x.count)
        ember_set_cpu_level(level)
        defer { ember_set_cpu_level(-1) }
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                ember_unary_f32(c.op, xb.baseAddress, yb.baseAddress, Int64(x.count), c.p0, c.p1)
            }
        }
        return y
    }

    /// Error of `value` in ulp of the correctly rounded float result of `exact`.
    static func ulpError(_ value: Float, _ exact: Double) -> Double {
        if exact.isNaN { return value.isNaN ? 0 : .infinity }
        let rounded = Float(exact)
        if rounded.isInfinite { return value == rounded ? 0 : .infinity }
        if value.isNaN || value.isInfinite { return .infinity }
        let ulp = Double(max(abs(rounded).ulp, Float.leastNonzeroMagnitude))
        return abs(Double(value) - exact) / ulp
    }

    @Test(arguments: cases)
    func matchesScalarAndDouble(_ c: Case) async {
        // Switches the process-wide instruction set: runs in a process of its own.
        await #expect(processExitsWith: .success) { [name = c.name as String] in
            let c = Self.cases.first { $0.name == name }!
            let x = Self.inputs
            let vector = Self.run(c, x, level: -1)
            let scalar = Self.run(c, x, level: 0)
            var worstVector = 0.0, worstScalar = 0.0
            var worstInput: Float = 0
            for i in x.indices {
                let exact = c.reference(Double(x[i]))
                let errorVector = Self.ulpError(vector[i], exact)
                let errorScalar = Self.ulpError(scalar[i], exact)
                if errorVector > worstVector { worstVector = errorVector; worstInput = x[i] }
                worstScalar = max(worstScalar, errorScalar)
                // Edge behaviour is the scalar's: same NaNs, same infinities, same zero signs at zero.
                #expect(vector[i].isNaN == scalar[i].isNaN, "\(c.name)(\(x[i])): vector \(vector[i]), scalar \(scalar[i])")
                if scalar[i].isInfinite || vector[i].isInfinite {
                    #expect(vector[i] == scalar[i], "\(c.name)(\(x[i])): vector \(vector[i]), scalar \(scalar[i])")
                }
                if x[i] == 0 {
                    #expect(vector[i].sign == scalar[i].sign && vector[i] == scalar[i],
                            "\(c.name)(\(x[i])): vector \(vector[i]), scalar \(scalar[i])")
                }
            }
            print("vector math \(c.name): max error \(worstVector) ulp at x = \(worstInput) (libm scalar path: \(worstScalar) ulp)")
            #expect(worstVector <= c.maxUlp, "\(c.name): \(worstVector) ulp at x = \(worstInput)")
        }
    }

    /// Lengths around the vector width: the masked tail computes the same values as full
    /// vectors, and nothing past `n` is written.
    @Test(arguments: [0, 1, 7, 8, 9, 1000])
    func tailLengths(_ n: Int) async {
        // Switches the process-wide instruction set: runs in a process of its own.
        await #expect(processExitsWith: .success) { [n] in
            let x = (0..<n).map { Float($0 % 37) * 0.37 - 6 }
            for c in Self.cases {
                var y = [Float](repeating: 12345, count: n + 9)
                x.withUnsafeBufferPointer { xb in
                    y.withUnsafeMutableBufferPointer { yb in
                        ember_unary_f32(c.op, xb.baseAddress, yb.baseAddress, Int64(n), c.p0, c.p1)
                    }
                }
                let whole = Self.run(c, x + [Float](repeating: 0, count: 8), level: -1)
                for i in 0..<n {
                    #expect(y[i].bitPattern == whole[i].bitPattern || (y[i].isNaN && whole[i].isNaN), "\(c.name) n=\(n) i=\(i)")
                }
                #expect(y[n...].allSatisfy { $0 == 12345 }, "\(c.name) wrote past n = \(n)")
            }
        }
    }

    /// In-place use (x and y the same buffer) is what the engine does for `exp_()`.
    @Test func inPlace() async {
        // Switches the process-wide instruction set: runs in a process of its own.
        await #expect(processExitsWith: .success) {
            var x: [Float] = (0..<19).map { Float($0) - 9 }
            let expected = Self.run(Self.cases[0], x, level: -1)
            x.withUnsafeMutableBufferPointer { b in
                ember_unary_f32(EMBER_EXP, b.baseAddress, b.baseAddress, Int64(b.count), 0, 0)
            }
            #expect(x == expected)
        }
    }
}
