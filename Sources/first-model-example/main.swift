// The code of Sources/Ember/Ember.docc/TrainingYourFirstModel.md, compiled verbatim
// (EmberExamplesTests checks that the two stay identical).
import Ember

manualSeed(0)

// 1. Data: the bundled digits, 80% to train and 20% to test.
let digits = try Datasets.digits()
let parts = randomSplit(digits, lengths: [0.8, 0.2], generator: RandomGenerator(seed: 0))
let train = DataLoader(parts[0], batchSize: 32, shuffle: true, generator: RandomGenerator(seed: 1))
let test = DataLoader(parts[1], batchSize: 256)

// 2. A model: two convolutions, then a linear classifier.
let model = Sequential {
    Conv2d(1, 16, kernelSize: 3, padding: 1)
    ReLU()
    MaxPool2d(kernelSize: 2)
    Conv2d(16, 32, kernelSize: 3, padding: 1)
    ReLU()
    MaxPool2d(kernelSize: 2)
    Flatten()
    Linear(32 * 2 * 2, 10)
}
let optimizer = Adam(model.parameters(), lr: 3e-3)

// 3. The training loop, written out.
for epoch in 1...8 {
    _ = model.train()
    var batches = train.epoch()
    while let (images, labels) = try batches.next() {
        optimizer.zeroGrad()
        let loss = crossEntropy(model(images), labels)
        loss.backward()
        optimizer.step()
    }
    // 4. Accuracy on the test set, without recording a graph.
    let result = try evaluate(model: model, loader: test, classes: digits.classes)
    print("epoch \(epoch): test accuracy \(result.accuracy)")
}

// 5. The same loop, with progress, validation and checkpoints, is the Trainer:
//    Trainer(model:optimizer:trainLoader:validationLoader:classes:).fit(epochs:)
let final = try evaluate(model: model, loader: test, classes: digits.classes)
print(final.confusion.text)
