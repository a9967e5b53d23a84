/// Rescales the gradients of `parameters` in place so that their combined `normType`-norm
/// (the norm of the vector of per-tensor norms) is at most `maxNorm`, and returns that total
/// norm (before clipping) as a 0-d tensor. Parameters without a gradient are skipped.
/// `normType` may be `.infinity`. As PyTorch, the scale is `maxNorm / (total + 1e-6)`, capped at 1.
///
///     loss.backward()
///     let norm = clipGradNorm(parameters, maxNorm: 1.0)
///     optimizer.step()
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Double, normType: Double = 2,
                         errorIfNonfinite: Bool = false) -> Tensor {
    let gradients = parameters.compactMap(\.grad)
    if gradients.isEmpty { return Tensor(0.0) }
    return withNoGrad {
        let norms = gradients.map { $0.norm(p: normType).reshaped([1]) }
        let total = Tensor.cat(norms).norm(p: normType)
        if errorIfNonfinite {
            emberPrecondition(total.isFinite().item(as: Bool.self),
                              "clipGradNorm: the total norm of order \(normType) for gradients from `parameters` is non-finite, so it cannot be clipped. To disable this error and scale the gradients by the non-finite norm anyway, set errorIfNonfinite: false")
        }
        let coefficient = (Tensor(maxNorm).to(total.dtype) / (total + 1e-6)).clamp(max: 1)
        for gradient in gradients { gradient.mul_(coefficient.to(gradient.dtype)) }
        return total
    }
}

/// Clamps every gradient of `parameters` to `[-clipValue, clipValue]` in place.
///
///     clipGradValue(parameters, clipValue: 0.5)
public func clipGradValue(_ parameters: [Tensor], clipValue: Double) {
    withNoGrad {
        for gradient in parameters.compactMap(\.grad) { gradient.clamp_(min: -clipValue, max: clipValue) }
    }
}
