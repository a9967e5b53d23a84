import Ember

// A worked example of a custom operation with its own kernel: convolution on a hexagonal
// lattice, built only from Ember's public API (`AutogradFunction`, `Tensor`'s storage and
// layout), the way a user outside the package would write it.
//
// The lattice uses axial coordinates (q, r) (see Amit Patel's "Hexagonal Grids"): cell (q, r)
// is stored at `grid[r][q]`, so a lattice is an ordinary 2-D grid `[height, width]` and a batch
// of multi-channel lattices is `[batch, channels, height, width]`. Each cell has six
// neighbours, at axial offsets (+1, 0), (-1, 0), (0, +1), (0, -1), (+1, -1), (-1, +1); with the
// centre that makes a 7-tap kernel. Cells outside the grid read as zero (zero padding), so the
// output has the input's height and width.
//
// Three pieces:
// - `HexagonalKernel`: the forward kernel and the weight-gradient kernel, plain Swift loops
//   over raw buffers (what "a user's own kernel" means: no Ember ops inside).
// - `HexagonalConvolution`: the `AutogradFunction` for y = conv(x, w).
// - `HexagonalConvolutionWeightGradient`: an `AutogradFunction` for dL/dw = corr(dL/dy, x).
//
// Why the backward is built from these two functions rather than from Tensor ops or raw
// kernel calls: the gradient with respect to the input is itself a hexagonal convolution (of
// the output gradient, with the weights transposed and the taps mirrored), and the weight
// gradient's own derivatives are hexagonal convolutions too. Expressing every backward through
// `apply` makes each backward pass record a graph when `createGraph` is on, so second and
// higher derivatives (`gradgradcheck`, gradient penalties) work. Rejected alternatives: calling
// the kernels directly in `backward` (fast, but the result has no history: second-order
// gradients would silently be zero), and writing the backward with shifted slices (correct and
// differentiable, but 7 slices and a reduction per tap, much slower than the kernel).

/// An offset between neighbouring cells in axial coordinates.
public struct AxialOffset: Sendable, Equatable {
    public let q: Int
    public let r: Int
    public init(q: Int, r: Int) {
        self.q = q
        self.r = r
    }
}

/// The seven taps of a hexagonal kernel, in the order of the weight's last dimension:
/// centre, then the six neighbours.
///
///     HexagonalLattice.taps[1]   // AxialOffset(q: 1, r: 0), the east neighbour
public enum HexagonalLattice {
    public static let taps: [AxialOffset] = [
        AxialOffset(q: 0, r: 0),
        AxialOffset(q: 1, r: 0), AxialOffset(q: -1, r: 0),
        AxialOffset(q: 0, r: 1), AxialOffset(q: 0, r: -1),
        AxialOffset(q: 1, r: -1), AxialOffset(q: -1, r: 1),
    ]

    /// `mirroredTap[k]` is the tap at the opposite offset (`taps[mirroredTap[k]] == -taps[k]`).
    public static let mirroredTap = [0, 2, 1, 4, 3, 6, 5]

    /// The weights of the adjoint convolution: `adjoint[c, o, k] = weight[o, c, mirroredTap[k]]`.
    /// Convolving an output gradient with them gives the input gradient. Built from Tensor
    /// ops, so it is differentiable in `weight`.
    public static func adjointWeight(_ weight: Tensor) -> Tensor {
        weight.permuted([1, 0, 2]).indexSelect(dim: 2, index: Tensor(mirroredTap))
    }
}

// MARK: - Public entry point

/// Convolution on a hexagonal lattice in axial coordinates, with zero padding.
///
/// `output[n, o, r, q] = Σ_c Σ_k weight[o, c, k] · input[n, c, r + taps[k].r, q + taps[k].q]`
/// (a cross-correlation, as in PyTorch's `conv2d`), plus `bias[o]` when given.
///
///     let lattice = Tensor.randn([8, 3, 16, 16])                 // batch, channels, rows r, columns q
///     let weight = Tensor.randn([4, 3, 7], requiresGrad: true)   // out channels, in channels, taps
///     let features = hexagonalConvolution(lattice, weight: weight)   // [8, 4, 16, 16]
///
/// A single-channel batch `[batch, height, width]` with a `[7]` weight also works and returns
/// `[batch, height, width]`.
/// - Parameters:
///   - input: `[batch, inChannels, height, width]` (or `[batch, height, width]`), floating point.
///   - weight: `[outChannels, inChannels, 7]` (or `[7]`), taps in `HexagonalLattice.taps` order.
///   - bias: optional `[outChannels]`, added with ordinary Tensor ops.
public func hexagonalConvolution(_ input: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    if input.rank == 3 && weight.rank == 1 {
        let output = HexagonalConvolution.apply(input.unsqueezed(1), weight.reshaped([1, 1, 7]))[0].squeezed(1)
        return bias.map { output + $0 } ?? output
    }
    let output = HexagonalConvolution.apply(input, weight)[0]
    guard let bias else { return output }
    return output + bias.reshaped([1, -1, 1, 1])
}

// MARK: - Autograd functions

/// y = hexagonal convolution of `inputs[0]` (`[N, C, H, W]`) with `inputs[1]` (`[O, C, 7]`).
///
/// Backward: dL/dx is the convolution of dL/dy with the adjoint weights, and dL/dw comes from
/// `HexagonalConvolutionWeightGradient`; both go through `apply`, so the backward pass is
/// itself differentiable.
public enum HexagonalConvolution: AutogradFunction {
    public static func forward(_ context: FunctionContext, _ inputs: [Tensor]) -> [Tensor] {
        checkArgument(inputs.count == 2, "HexagonalConvolution: expected 2 inputs (input, weight), got \(inputs.count)")
        let input = inputs[0], weight = inputs[1]
        checkArgument(input.rank == 4, "HexagonalConvolution: expected input of shape [batch, channels, height, width], got \(input.shape)")
        checkArgument(weight.rank == 3 && weight.shape[2] == 7,
                      "HexagonalConvolution: expected weight of shape [outChannels, inChannels, 7], got \(weight.shape)")
        checkArgument(weight.shape[1] == input.shape[1],
                      "HexagonalConvolution: weight \(weight.shape) expects \(weight.shape[1]) input channels, but input \(input.shape) has \(input.shape[1])")
        context.saveForBackward(input, weight)
        return [HexagonalKernel.convolve(input, weight)]
    }

    public static func backward(_ context: FunctionContext, _ gradOutputs: [Tensor]) -> [Tensor?] {
        let input = context.savedTensors[0], weight = context.savedTensors[1]
        let gradOutput = gradOutputs[0]
        let gradInput = context.needsInputGrad[0]
            ? HexagonalConvolution.apply(gradOutput, HexagonalLattice.adjointWeight(weight))[0] : nil
        let gradWeight = context.needsInputGrad[1]
            ? HexagonalConvolutionWeightGradient.apply(gradOutput, input)[0] : nil
        return [gradInput, gradWeight]
    }
}

/// dL/dw of a hexagonal convolution: from `inputs[0]` = dL/dy (`[N, O, H, W]`) and
/// `inputs[1]` = x (`[N, C, H, W]`), `result[o, c, k] = Σ_n Σ_p dy[n, o, p] · x[n, c, p + taps[k]]`.
///
/// It is linear in each input, and its derivatives are hexagonal convolutions: with G the
/// gradient of the result, d/d(dy) = conv(x, G) and d/dx = conv(dy, adjoint(G)).
public enum HexagonalConvolutionWeightGradient: AutogradFunction {
    public static func forward(_ context: FunctionContext, _ inputs: [Tensor]) -> [Tensor] {
        let gradOutput = inputs[0], input = inputs[1]
        checkArgument(gradOutput.rank == 4 && input.rank == 4 && gradOutput.shape[0] == input.shape[0]
                      && gradOutput.shape[2...] == input.shape[2...],
                      "HexagonalConvolutionWeightGradient: gradient \(gradOutput.shape) and input \(input.shape) must be [N, O, H, W] and [N, C, H, W]")
        context.saveForBackward(gradOutput, input)
        return [HexagonalKernel.weightGradient(gradOutput, input)]
    }

    public static func backward(_ context: FunctionContext, _ gradOutputs: [Tensor]) -> [Tensor?] {
        let gradOutput = context.savedTensors[0], input = context.savedTensors[1]
        let g = gradOutputs[0]
        return [
            context.needsInputGrad[0] ? HexagonalConvolution.apply(input, g)[0] : nil,
            context.needsInputGrad[1] ? HexagonalConvolution.apply(gradOutput, HexagonalLattice.adjointWeight(g))[0] : nil,
        ]
    }
}

/// Stops with `message` in every build configuration (`precondition` drops its message in
/// optimised builds; Ember's own checks behave the same way).
func checkArgument(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
