/// The outcome of `gradcheck`: which input and element disagreed, and by how much.
public struct GradcheckResult: Sendable, CustomStringConvertible {
    public let passed: Bool
    /// Human-readable details of the first disagreement ("" when passed).
    public let report: String
    public var description: String { passed ? "gradcheck passed" : "gradcheck failed: \(report)" }
}

/// Compares the analytical gradients of `function` with central finite differences, one
/// input element at a time (PyTorch's `torch.autograd.gradcheck`). Inputs should be float64
/// and `requiresGrad`; the function may return any shape: every output element is checked
/// against every input element (keep the tensors small).
///
///     let x = Tensor.randn([3], dtype: .float64, requiresGrad: true)
///     #expect(gradcheck({ $0[0].tanh() }, inputs: [x]).passed)
public func gradcheck(_ function: ([Tensor]) -> Tensor, inputs: [Tensor], epsilon: Double = 1e-6,
                      absoluteTolerance: Double = 1e-5, relativeTolerance: Double = 1e-3) -> GradcheckResult {
    let output = withGrad { function(inputs) }
    let outputCount = output.count
    let differentiable = inputs.enumerated().filter { $0.element.requiresGrad }
    // Analytical Jacobian: one backward pass per output element.
    var analytical: [[[Double]]] = differentiable.map { Array(repeating: Array(repeating: 0, count: $0.element.count), count: outputCount) }
    if output.requiresGrad {
        for outputIndex in 0..<outputCount {
            var seed = [Double](repeating: 0, count: outputCount)
            seed[outputIndex] = 1
            let gradients = grad(of: [output], withRespectTo: differentiable.map(\.element),
                                 gradOutputs: [Tensor(shape: output.shape, scalars: seed).to(output.dtype)],
                                 retainGraph: true, allowUnused: true)
            for (k, gradient) in gradients.enumerated() {
                if let gradient { analytical[k][outputIndex] = gradient.scalars(as: Double.self) }
            }
        }
    }
    // Numerical Jacobian: perturb each input element in place.
    for (k, entry) in differentiable.enumerated() {
        let input = entry.element
        let flat = withoutGrad { input.detach() }
        for element in 0..<input.count {
            let original = flat.scalarAt(flatIndex: element)
            flat.setScalar(original + epsilon, flatIndex: element)
            let plus = withoutGrad { function(inputs).scalars(as: Double.self) }
            flat.setScalar(original - epsilon, flatIndex: element)
            let minus = withoutGrad { function(inputs).scalars(as: Double.self) }
            flat.setScalar(original, flatIndex: element)
            for outputIndex in 0..<outputCount {
                let numerical = (plus[outputIndex] - minus[outputIndex]) / (2 * epsilon)
                let exact = analytical[k][outputIndex][element]
                let bothNaN = numerical.isNaN && exact.isNaN
                if !bothNaN && !(Swift.abs(numerical - exact) <= absoluteTolerance + relativeTolerance * Swift.abs(numerical)) {
                    return GradcheckResult(passed: false, report: "Jacobian mismatch for output \(outputIndex) with respect to input \(entry.offset), element \(element): numerical \(numerical) vs analytical \(exact)")
                }
            }
        }
    }
    return GradcheckResult(passed: true, report: "")
}

/// Checks second derivatives: gradcheck of the function that maps the inputs (and a fixed
/// random output gradient) to the first-order gradients, built with `createGraph`.
///
///     #expect(gradgradcheck({ $0[0].sigmoid() }, inputs: [x]).passed)
public func gradgradcheck(_ function: @escaping ([Tensor]) -> Tensor, inputs: [Tensor], epsilon: Double = 1e-6,
                          absoluteTolerance: Double = 1e-5, relativeTolerance: Double = 1e-3) -> GradcheckResult {
    let probe = withGrad { function(inputs) }
    let seed = Tensor.randn(probe.shape, dtype: probe.dtype, generator: RandomGenerator(seed: 7))
    let firstOrder: ([Tensor]) -> Tensor = { current in
        // Differentiating needs grad mode even when gradcheck evaluates this without it.
        withGrad { firstOrderGradients(current) }
    }
    func firstOrderGradients(_ current: [Tensor]) -> Tensor {
        let output = function(current)
        let gradients = grad(of: [output], withRespectTo: current.filter(\.requiresGrad), gradOutputs: [seed],
                             createGraph: true, allowUnused: true)
        let pieces = zip(gradients, current.filter(\.requiresGrad)).map { gradient, input in
            (gradient ?? Tensor.zerosLike(input)).reshaped([-1])
        }
        return Tensor.cat(pieces, dim: 0)
    }
    return gradcheck(firstOrder, inputs: inputs, epsilon: epsilon, absoluteTolerance: absoluteTolerance,
                     relativeTolerance: relativeTolerance)
}

extension Tensor {
    /// The storage offset of element `flatIndex` (row-major over this view).
    func storageOffset(ofFlatIndex flatIndex: Int) -> Int {
        var remainder = flatIndex, offset = layout.offset
        for axis in stride(from: rank - 1, through: 0, by: -1) {
            offset += (remainder % shape[axis]) * strides[axis]
            remainder /= shape[axis]
        }
        return offset
    }

    /// Reads element `flatIndex` (row-major over this view) as Double.
    func scalarAt(flatIndex: Int) -> Double {
        let offset = storageOffset(ofFlatIndex: flatIndex)
        let view = Tensor(storage: storage, layout: Layout(shape: [], strides: [], offset: offset), dtype: dtype)
        return withoutGrad { view.to(.float64).baseAddress.load(as: Double.self) }
    }

    /// Writes element `flatIndex` without bumping the version (used by finite differences).
    func setScalar(_ value: Double, flatIndex: Int) {
        let offset = storageOffset(ofFlatIndex: flatIndex)
        let target = Tensor(storage: storage, layout: Layout(shape: [], strides: [], offset: offset), dtype: dtype)
        CopyKernel.copy(from: Tensor(value), into: target)
    }
}
