import Testing
@testable import Ember

/// The several-chunk path of `ConvolutionKernel` (Ops/ConvolutionKernels.swift): the batch is
/// split into chunks whose column matrix fits `columnBudget` (8 MB), so the small tensors of
/// the other tests always take one chunk. Here the budget is shrunk so that chunks hold one
/// image (the in-place GEMM path) or a few images with a shorter last chunk, and the forward
/// output and the input, weight and bias gradients (the weight gradient accumulated across
/// chunks) must equal the one-chunk results in float64.
@Suite struct ConvolutionChunkTests {
    static func random(_ shape: [Int], seed: UInt64) -> Tensor {
        Tensor.randn(shape, dtype: .float64, generator: RandomGenerator(seed: seed))
    }

    /// Output and gradients of `op` (input, weight, bias) for a fixed upstream gradient.
    static func run(_ op: ([Tensor]) -> Tensor, _ inputs: [Tensor], upstream: Tensor) -> [Tensor] {
        let leaves = inputs.map { $0.detach().requiresGrad_() }
        let output = op(leaves)
        (output * upstream).sum().backward()
        return [output.detach()] + leaves.map { $0.grad! }
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let transpose: Bool
        let input: [Int], weight: [Int]
        let stride: Int, padding: Int, groups: Int
        var testDescription: String { name }
    }

    static let cases = [
        Case(name: "conv2d groups 2", transpose: false, input: [7, 4, 9, 8], weight: [6, 2, 3, 3], stride: 1, padding: 1, groups: 2),
        Case(name: "conv2d stride 2", transpose: false, input: [5, 3, 10, 7], weight: [4, 3, 3, 2], stride: 2, padding: 0, groups: 1),
        Case(name: "convTranspose2d", transpose: true, input: [5, 4, 5, 6], weight: [4, 3, 3, 3], stride: 2, padding: 1, groups: 2),
        // Even batches, and a batch of 8 with groups: chunks of 1, 2 and 3 images over them.
        Case(name: "conv2d batch 4", transpose: false, input: [4, 3, 9, 8], weight: [5, 3, 3, 3], stride: 1, padding: 1, groups: 1),
        Case(name: "conv2d batch 8 groups 2", transpose: false, input: [8, 4, 6, 6], weight: [6, 2, 3, 3], stride: 1, padding: 1, groups: 2),
        Case(name: "convTranspose2d batch 4", transpose: true, input: [4, 4, 5, 6], weight: [4, 3, 3, 3], stride: 2, padding: 1, groups: 2),
    ]

    @Test(arguments: cases)
    func severalChunksMatchOneChunk(_ c: Case) {
        let x = Self.random(c.input, seed: 1), w = Self.random(c.weight, seed: 2)
        let outChannels = c.transpose ? c.weight[1] * c.groups : c.weight[0]
        let b = Self.random([outChannels], seed: 3)
        let op: ([Tensor]) -> Tensor = {
            c.transpose
                ? Functional.convTranspose2d($0[0], weight: $0[1], bias: $0[2], stride: SpatialSize(c.stride),
                                             padding: SpatialSize(c.padding), groups: c.groups)
                : Functional.conv2d($0[0], weight: $0[1], bias: $0[2], stride: SpatialSize(c.stride),
                                    padding: .explicit(SpatialSize(c.padding)), groups: c.groups)
        }
        let shape = withNoGrad { op([x, w, b]).shape }
        let upstream = Self.random(shape, seed: 4)
        let reference = Self.run(op, [x, w, b], upstream: upstream)
        // Bytes of one image's column matrix (imagesPerChunk's perImage): [C/groups·kh·kw,
        // outH·outW] of the convolution's own geometry; for the transposed convolution that is
        // the input-gradient kernel's, with the roles of input and output swapped.
        let (channels, plane) = c.transpose ? (shape[1], c.input[2] * c.input[3]) : (c.input[1], shape[2] * shape[3])
        let imageBytes = channels / c.groups * c.weight[2] * c.weight[3] * plane * 8
        // One image per chunk (even a 1-byte budget), then two and three images with a shorter last chunk.
        for budget in [1, 2 * imageBytes, 3 * imageBytes] {
            let chunked = ConvolutionKernel.$columnBudget.withValue(budget) { Self.run(op, [x, w, b], upstream: upstream) }
            for (name, (actual, expected)) in zip(["output", "input grad", "weight grad", "bias grad"], zip(chunked, reference)) {
                expectClose(actual, expected, relative: 1e-12, absolute: 1e-12, "\(c.name) budget \(budget): \(name)")
            }
        }
    }

    @Test func budgetIsTaskLocal() {
        #expect(ConvolutionKernel.$columnBudget.withValue(1) { ConvolutionKernel.columnBudget } == 1)
        #expect(ConvolutionKernel.columnBudget == 8 << 20)
    }
}
