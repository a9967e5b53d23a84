import Testing
@testable import Ember

/// The row-table forward pass, input gradient and weight gradient of unit-stride convolutions
/// (Ops/ConvolutionRowTable.swift): the output against a plain loop over the definition in
/// float64, and output and all gradients against the im2col path they replace, in both float
/// types; gradcheck and gradgradcheck through the row-table input gradient. The cases reach every
/// part of it: padding (none, so the input is read in place; symmetric; asymmetric from `.same`
/// with an even kernel; wider than the kernel's extent, so the input gradient's padding is
/// negative and crops), dilation, groups, bias, output widths that are not a multiple of a
/// register tile (1, 5, 17, 37), output channels that leave a partial row tile, a depth past one
/// depth block (192), input channels on both sides of `rowTableMinimumGradientChannels`, output
/// channels on both sides of the depth (the weight gradient's choice of path), and
/// batches split into several chunks of padded images.
@Suite struct ConvolutionRowTableTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let input: [Int], weight: [Int]
        let padding: ConvolutionPadding
        var dilation: SpatialSize = 1
        var groups = 1
        var bias = true
        var testDescription: String { name }
    }

    static let cases = [
        Case(name: "3x3 padding 1", input: [2, 3, 9, 17], weight: [7, 3, 3, 3], padding: 1),
        Case(name: "no padding: read in place", input: [3, 2, 8, 7], weight: [5, 2, 3, 2], padding: 0, bias: false),
        Case(name: "same, even kernel (asymmetric)", input: [2, 3, 6, 37], weight: [4, 3, 4, 2], padding: .same),
        Case(name: "dilation 2, padding 2", input: [1, 2, 11, 13], weight: [6, 2, 3, 3], padding: 2, dilation: 2),
        Case(name: "groups 2 and dilation (2, 1)", input: [2, 4, 7, 9], weight: [6, 2, 3, 3], padding: [1, 2],
             dilation: [2, 1], groups: 2),
        Case(name: "groups 2 of 6 channels, dilation (2, 1)", input: [2, 12, 7, 9], weight: [8, 6, 3, 3],
             padding: [1, 2], dilation: [2, 1], groups: 2),
        Case(name: "depth 216 (two depth blocks)", input: [1, 24, 5, 21], weight: [13, 24, 3, 3], padding: 1),
        Case(name: "output width 1", input: [2, 3, 5, 3], weight: [4, 3, 3, 3], padding: [1, 0]),
        Case(name: "padding wider than the kernel", input: [1, 6, 4, 5], weight: [3, 6, 2, 2], padding: 3),
        Case(name: "same, even kernel, 8 channels", input: [2, 8, 6, 19], weight: [5, 8, 4, 2], padding: .same),
        Case(name: "1x5 kernel (rows only)", input: [2, 3, 4, 16], weight: [8, 3, 1, 5], padding: [0, 2]),
        // 12 output channels against a depth of 9: the weight gradient keeps the im2col path.
        Case(name: "more output channels than depth", input: [2, 1, 6, 9], weight: [12, 1, 3, 3], padding: 1),
    ]

    static func random(_ shape: [Int], seed: UInt64) -> Tensor {
        Tensor.randn(shape, dtype: .float64, generator: RandomGenerator(seed: seed))
    }

    /// The convolution by its definition: every output element a sum over its window.
    static func definition(_ x: Tensor, _ w: Tensor, _ b: Tensor?, geometry g: ConvolutionGeometry) -> Tensor {
        let (batch, channels) = (x.shape[0], x.shape[1]), outChannels = w.shape[0]
        let groupChannels = channels / g.groups, groupOut = outChannels / g.groups
        let xs = x.scalars(as: Double.self), ws = w.scalars(as: Double.self), bs = b?.scalars(as: Double.self)
        var out = [Double](repeating: 0, count: batch * outChannels * g.outHeight * g.outWidth)
        for n in 0..<batch {
            for o in 0..<outChannels {
                let group = o / groupOut
                for oy in 0..<g.outHeight {
                    for ox in 0..<g.outWidth {
                        var sum = bs?[o] ?? 0
                        for c in 0..<groupChannels {
                            for ky in 0..<g.kernelHeight {
                                for kx in 0..<g.kernelWidth {
                                    let iy = oy + ky * g.dilationH - g.padH, ix = ox + kx * g.dilationW - g.padW
                                    guard iy >= 0, iy < g.inHeight, ix >= 0, ix < g.inWidth else { continue }
                                    let channel = group * groupChannels + c
                                    sum += ws[((o * groupChannels + c) * g.kernelHeight + ky) * g.kernelWidth + kx]
                                        * xs[((n * channels + channel) * g.inHeight + iy) * g.inWidth + ix]
                                }
                            }
                        }
                        out[((n * outChannels + o) * g.outHeight + oy) * g.outWidth + ox] = sum
                    }
                }
            }
        }
        return Tensor(shape: [batch, outChannels, g.outHeight, g.outWidth], scalars: out)
    }

    static func convolve(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ c: Case) -> Tensor {
        Functional.conv2d(x, weight: w, bias: b, padding: c.padding, dilation: c.dilation, groups: c.groups)
    }

    @Test(arguments: cases)
    func matchesTheDefinitionAndTheIm2colPath(_ c: Case) throws {
        let x = Self.random(c.input, seed: 11), w = Self.random(c.weight, seed: 12)
        let b = c.bias ? Self.random([c.weight[0]], seed: 13) : nil
        let output = Self.convolve(x, w, b, c)
        // The geometry the op computed, read back from the output size and the case.
        let kernel = [c.weight[2], c.weight[3]]
        let dilation = c.dilation.values.count == 1 ? [c.dilation.values[0], c.dilation.values[0]] : c.dilation.values
        let padding: [Int]
        switch c.padding {
        case .explicit(let size): padding = size.values.count == 1 ? [size.values[0], size.values[0]] : size.values
        case .valid: padding = [0, 0]
        case .same: padding = (0..<2).map { dilation[$0] * (kernel[$0] - 1) / 2 }
        }
        let geometry = ConvolutionGeometry(
            inHeight: c.input[2], inWidth: c.input[3], outHeight: output.shape[2], outWidth: output.shape[3],
            kernelHeight: kernel[0], kernelWidth: kernel[1], strideH: 1, strideW: 1, padH: padding[0], padW: padding[1],
            dilationH: dilation[0], dilationW: dilation[1], groups: c.groups)
        #expect(ConvolutionKernel.takesRowTable(geometry), "\(c.name): takes the row-table path")
        expectClose(output, Self.definition(x, w, b, geometry: geometry), relative: 1e-12, absolute: 1e-12, "\(c.name): definition")

        // Both float types against the im2col path, output and gradients; float32 sums in another order.
        let upstream = Self.random(output.shape, seed: 14)
        for dtype in [DType.float64, .float32] {
            let inputs = [x, w] + (b.map { [$0] } ?? [])
            let leaves = inputs.map { $0.to(dtype) }
            let rowTable = Self.outputAndGradients(leaves, upstream: upstream.to(dtype), c)
            let im2col = ConvolutionKernel.$usesRowTable.withValue(false) {
                Self.outputAndGradients(leaves, upstream: upstream.to(dtype), c)
            }
            // float32: the weight gradient sums a few hundred products of O(1) values, in another
            // order on each path, to results that can be small (cancellation).
            let tolerance = dtype == .float64 ? 1e-12 : 1e-4
            for (name, (actual, expected)) in zip(["output", "input grad", "weight grad", "bias grad"], zip(rowTable, im2col)) {
                expectClose(actual, expected, relative: tolerance, absolute: tolerance, "\(c.name) \(dtype): \(name)")
            }
        }
    }

    /// The output and the gradients of input, weight (and bias) for a fixed upstream gradient.
    static func outputAndGradients(_ inputs: [Tensor], upstream: Tensor, _ c: Case) -> [Tensor] {
        let leaves = inputs.map { $0.detach().requiresGrad_() }
        let output = convolve(leaves[0], leaves[1], leaves.count > 2 ? leaves[2] : nil, c)
        (output * upstream).sum().backward()
        return [output.detach()] + leaves.map { $0.grad! }
    }

    /// gradcheck and gradgradcheck where the input gradient takes the row table (6 input
    /// channels per group, asymmetric padding, dilation): its backward (the gradients of the
    /// transposed convolution) runs through the row-table forward pass too.
    @Test func gradcheckThroughTheRowTableInputGradient() {
        let x = Self.random([1, 12, 4, 5], seed: 31).requiresGrad_()
        let w = Self.random([4, 6, 2, 3], seed: 32).requiresGrad_()
        let b = Self.random([4], seed: 33).requiresGrad_()
        let convolve: ([Tensor]) -> Tensor = {
            Functional.conv2d($0[0], weight: $0[1], bias: $0[2], padding: .same, dilation: [2, 1], groups: 2)
        }
        let first = gradcheck(convolve, inputs: [x, w, b])
        #expect(first.passed, "\(first)")
        let second = gradgradcheck(convolve, inputs: [x, w, b])
        #expect(second.passed, "\(second)")
    }

    /// Chunks of padded images (and of transposed output gradients, for the weight gradient): a
    /// budget of one byte takes one image at a time, and two padded images' worth leaves a
    /// shorter last chunk; the output and the gradients must not change. 8 channels, so that the
    /// input gradient takes the row table too.
    @Test func severalChunksOfPaddedImages() {
        let c = Case(name: "chunks", input: [5, 8, 6, 10], weight: [4, 8, 3, 3], padding: 1)
        let inputs = [Self.random(c.input, seed: 21), Self.random(c.weight, seed: 22), Self.random([4], seed: 23)]
        let upstream = Self.random([5, 4, 6, 10], seed: 24)
        let whole = Self.outputAndGradients(inputs, upstream: upstream, c)
        let paddedImage = 8 * 8 * 12 * MemoryLayout<Double>.stride
        for budget in [1, 2 * paddedImage] {
            let chunked = ConvolutionKernel.$columnBudget.withValue(budget) {
                Self.outputAndGradients(inputs, upstream: upstream, c)
            }
            for (name, (actual, expected)) in zip(["output", "input grad", "weight grad", "bias grad"], zip(chunked, whole)) {
                expectClose(actual, expected, relative: 1e-13, absolute: 1e-13, "budget \(budget): \(name)")
            }
        }
    }

    /// NaN and infinity in the input reach exactly the outputs whose windows hold them; the
    /// zero padding around them stays zero (0 · w, never garbage).
    @Test func nonFiniteInputsStayInTheirWindows() {
        var values = [Double](repeating: 1, count: 5 * 6)
        values[2 * 6 + 3] = .nan
        values[0] = .infinity
        let x = Tensor(shape: [1, 1, 5, 6], scalars: values)
        let y = Functional.conv2d(x, weight: Tensor.ones([1, 1, 3, 3], dtype: .float64), padding: 1)
        let out = y.scalars(as: Double.self)
        for oy in 0..<5 {
            for ox in 0..<6 {
                let seesNaN = abs(oy - 2) <= 1 && abs(ox - 3) <= 1, seesInfinity = oy <= 1 && ox <= 1
                let value = out[oy * 6 + ox]
                if seesNaN {
                    #expect(value.isNaN, "(\(oy), \(ox))")
                } else if seesInfinity {
                    #expect(value == .infinity, "(\(oy), \(ox))")
                } else {
                    // Ones over the window's part inside the image.
                    let rows = min(oy + 1, 4) - max(oy - 1, 0) + 1, columns = min(ox + 1, 5) - max(ox - 1, 0) + 1
                    #expect(value == Double(rows * columns), "(\(oy), \(ox))")
                }
            }
        }
    }

    /// The rule that keeps wide products (many channels over narrow rows) on the im2col path.
    @Test func rowTableFitsNarrowProductsOnly() {
        #expect(ConvolutionKernel.rowTableFits(channels: 64, width: 7))
        #expect(ConvolutionKernel.rowTableFits(channels: 512, width: 64))
        #expect(!ConvolutionKernel.rowTableFits(channels: 65, width: 63))
        #expect(!ConvolutionKernel.rowTableFits(channels: 256, width: 14))
    }

    /// 80 output channels over 9-wide rows: the forward pass and the weight gradient take the
    /// im2col path, the input gradient (8 channels) the row table; all must agree with the
    /// definition and with the all-im2col run.
    @Test func wideProductsKeepTheIm2colPath() {
        let c = Case(name: "80 channels, 9 wide", input: [2, 8, 5, 9], weight: [80, 8, 3, 3], padding: 1)
        let inputs = [Self.random(c.input, seed: 41), Self.random(c.weight, seed: 42), Self.random([80], seed: 43)]
        let upstream = Self.random([2, 80, 5, 9], seed: 44)
        let mixed = Self.outputAndGradients(inputs, upstream: upstream, c)
        let im2col = ConvolutionKernel.$usesRowTable.withValue(false) { Self.outputAndGradients(inputs, upstream: upstream, c) }
        for (name, (actual, expected)) in zip(["output", "input grad", "weight grad", "bias grad"], zip(mixed, im2col)) {
            expectClose(actual, expected, relative: 1e-12, absolute: 1e-12, "\(name)")
        }
    }

    @Test func switchIsTaskLocal() {
        #expect(ConvolutionKernel.$usesRowTable.withValue(false) { ConvolutionKernel.usesRowTable } == false)
        #expect(ConvolutionKernel.usesRowTable)
    }
}
