/// Runs one primitive as a value, checked: what frontends that build computations from data
/// (ONNX import, other graph formats) call instead of Ember's methods, so that operands read
/// from a file throw instead of stopping the program.
extension Primitive {
    /// This primitive applied to `inputs` eagerly, exactly as Ember's own op: through the one
    /// dispatch point, so it records its autograd node (the primitive's vector-Jacobian product)
    /// when an input requires grad, and its graph node while `compile` traces.
    ///
    ///     let y = try Primitive.matmul.apply(to: [a, b])                // a.matmul(b)
    ///     let s = try Primitive.reduce("sum", axes: [1], keepDim: false).apply(to: [y])
    ///
    /// Throws ``PrimitiveApplicationError`` when the inputs do not satisfy the primitive's
    /// shape and dtype rule (``resultType(_:)``), the same check a loaded graph passes before it runs.
    public func apply(to inputs: [Tensor]) throws -> Tensor {
        if case .opaque = self { throw PrimitiveApplicationError(primitive: self, inputs: inputs.map(\.valueType)) }
        let types = inputs.map(\.valueType)
        guard let expected = resultType(types) else { throw PrimitiveApplicationError(primitive: self, inputs: types) }
        let output = Dispatch.apply(inputs, { _ in self }) {
            withoutGrad { CPUBackend().run(self, inputs: inputs, output: nil) }
        }
        emberPrecondition(output.shape == expected.shape && output.dtype == expected.dtype,
                          "\(self): the type rule gives \(expected), the kernel \(output.dtype)\(output.shape)")
        return output
    }
}

/// Inputs that do not fit a primitive's shape and dtype rule.
public struct PrimitiveApplicationError: Error, CustomStringConvertible, Equatable {
    public let primitive: Primitive
    public let inputs: [Primitive.ValueType]

    public var description: String {
        "\(primitive.name): invalid operands \(inputs.map(\.description).joined(separator: ", ")) for \(primitive)"
    }
}

extension Tensor {
    /// The shape and dtype the type rules see.
    var valueType: Primitive.ValueType { Primitive.ValueType(shape: shape, dtype: dtype) }
}
