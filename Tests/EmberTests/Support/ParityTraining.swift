@testable import Ember

/// The training loop of the PyTorch parity fixtures (scripts/fixtures/generate_training_parity*.py):
/// loads the initial state stored in `data` (its first `keys.count` tensors, by name) into
/// `model`, then trains one step per stored (input, target) batch, stepping the scheduler after
/// the optimizer as PyTorch does, and returns the loss of every step.
func trainLikeParityFixture(_ model: any Layer, data: FixtureCase, keys: [String],
                            optimizer makeOptimizer: ([Tensor]) -> Optimizer,
                            scheduler makeScheduler: (Optimizer) -> LRScheduler?) throws -> [Double] {
    let tensors = data.inputs.map(\.tensor)
    try model.loadStateDict(StateDict(Array(zip(keys, tensors.prefix(keys.count)))))
    let optimizer = makeOptimizer(model.parameters())
    let scheduler = makeScheduler(optimizer)
    var losses: [Double] = []
    let batches = Array(tensors.dropFirst(keys.count))
    for step in 0..<(batches.count / 2) {
        optimizer.zeroGrad()
        let loss = crossEntropy(model(batches[2 * step]), batches[2 * step + 1])
        loss.backward()
        optimizer.step()
        scheduler?.step()
        losses.append(loss.item())
    }
    return losses
}
