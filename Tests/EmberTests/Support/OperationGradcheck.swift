import Testing
@testable import Ember

/// A gradcheck on inputs that no fixture holds (random tensors in a layer's shapes), named by
/// the `OperationCatalog` op it checks, so that the catalogue test can see which ops have one.
/// The inputs are made afresh for every run: gradcheck perturbs them in place, and tests run
/// in parallel.
struct OperationGradcheck: Sendable, CustomTestStringConvertible {
    let op: String
    let label: String
    let inputs: @Sendable () -> [Tensor]
    let function: @Sendable ([Tensor]) -> Tensor

    init(_ op: String, _ label: String, inputs: @escaping @Sendable () -> [Tensor],
         _ function: @escaping @Sendable ([Tensor]) -> Tensor) {
        self.op = op
        self.label = label
        self.inputs = inputs
        self.function = function
    }

    var testDescription: String { "\(op) \(label)" }

    func check(sourceLocation: SourceLocation = #_sourceLocation) {
        let result = gradcheck(function, inputs: inputs())
        #expect(result.passed, "\(testDescription): \(result.report)", sourceLocation: sourceLocation)
    }
}
