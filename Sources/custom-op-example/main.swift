import Ember
import EmberExamples

// The worked custom-op example: a hexagonal-lattice convolution with its own kernel and
// backward rule (Sources/EmberExamples), run on a small lattice and checked with gradcheck.
//
//     swift run custom-op-example

/// Prints a [height, width] lattice with row r shifted right by r half-cells, so that axial
/// neighbours sit next to each other as they do on the hexagonal grid.
func printLattice(_ lattice: Tensor) {
    let values = lattice.scalars(as: Double.self)
    let height = lattice.shape[0], width = lattice.shape[1]
    for r in 0..<height {
        let cells = (0..<width).map { q in
            let text = String(Int(values[r * width + q].rounded()))
            return String(repeating: " ", count: max(0, 6 - text.count)) + text
        }
        print(String(repeating: " ", count: 3 * r) + cells.joined())
    }
}

// 1. The impulse response: one hot cell in the middle of a 5x5 lattice. Each tap's weight lands
//    on the neighbour at the opposite offset, drawing the hexagon around the centre.
var impulse = [Float](repeating: 0, count: 25)
impulse[12] = 1
let lattice = Tensor(shape: [1, 1, 5, 5], scalars: impulse)
let taps = Tensor(shape: [1, 1, 7], scalars: [100, 1, 2, 3, 4, 5, 6] as [Float])
let response = hexagonalConvolution(lattice, weight: taps)
print("weights (centre, then neighbours at axial offsets (+1,0) (-1,0) (0,+1) (0,-1) (+1,-1) (-1,+1)):")
print(taps)
print("output for a single 1 at the centre (row r drawn shifted by r half-cells):")
printLattice(response[0, 0])

// 2. Gradients: a batch of 2 lattices, 2 input and 3 output channels, in float64.
manualSeed(0)
let input = Tensor.randn([2, 2, 4, 5], dtype: .float64, requiresGrad: true)
let weight = Tensor.randn([3, 2, 7], dtype: .float64, requiresGrad: true)
let output = hexagonalConvolution(input, weight: weight)
print("output shape \(output.shape), gradFunction \(output.gradFunction!)")
output.square().sum().backward()
print("dL/dweight[0, 0] =", weight.grad![0, 0])

// 3. gradcheck compares the backward rule with finite differences; gradgradcheck checks that
//    the backward pass is itself differentiable.
let small = Tensor.randn([1, 2, 3, 3], dtype: .float64, requiresGrad: true)
let smallWeight = Tensor.randn([2, 2, 7], dtype: .float64, requiresGrad: true)
let first = gradcheck({ hexagonalConvolution($0[0], weight: $0[1]) }, inputs: [small, smallWeight])
print("gradcheck (input and weight):", first)
let second = gradgradcheck({ hexagonalConvolution($0[0], weight: $0[1]) }, inputs: [small, smallWeight])
print("gradgradcheck (input and weight):", second)
if !first.passed || !second.passed { fatalError("gradient checks failed") }
