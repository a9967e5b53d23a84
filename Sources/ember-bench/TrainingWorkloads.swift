import Ember

/// Autograd and training-step workloads: the fixed cost of recording and running a tiny
/// graph, and small models trained one step at a time. Sizes match scripts/bench/bench_torch.py.
extension Workload {
    static var autograd: [Workload] {
        [
            Workload(name: "tiny_forward_backward", group: "autograd",
                     note: "4 ops on 4-element float32 tensors, then backward") {
                let x = Tensor.randn([4], requiresGrad: true), w = Tensor.randn([4], requiresGrad: true)
                return {
                    let loss = ((x * w).tanh() + x).sum()
                    loss.backward()
                    x.grad = nil
                    w.grad = nil
                }
            },
            Workload(name: "mlp_forward_backward", group: "autograd",
                     note: "MLP 64x128 -> 256 -> 10 forward, cross-entropy, backward (float32)") {
                let x = Tensor.randn([64, 128])
                let targets = Tensor.randint(0, 10, [64])
                let w1 = (Tensor.randn([128, 256]) * 0.05).requiresGrad_(), b1 = Tensor.zeros([256], requiresGrad: true)
                let w2 = (Tensor.randn([256, 10]) * 0.05).requiresGrad_(), b2 = Tensor.zeros([10], requiresGrad: true)
                return {
                    let logits = (x.matmul(w1) + b1).relu().matmul(w2) + b2
                    crossEntropy(logits, targets).backward()
                    for parameter in [w1, b1, w2, b2] { parameter.grad = nil }
                }
            },
        ]
    }

    /// The MLP 784-256-10 of `mlp_train_step` (and its compiled twin), SGD with momentum, and a batch.
    static func mlpTrainingSetup() -> (Sequential, SGD, Tensor, Tensor) {
        let model = Sequential {
            Linear(784, 256)
            ReLU()
            Linear(256, 10)
        }
        let optimizer = SGD(model.parameters(), lr: 0.01, momentum: 0.9)
        return (model, optimizer, Tensor.randn([64, 784]), Tensor.randint(0, 10, [64]))
    }

    static var training: [Workload] {
        [
            Workload(name: "mlp_train_step", group: "training",
                     note: "MLP 784-256-10, batch 64, cross-entropy, SGD momentum 0.9 (one step)") {
                let (model, optimizer, x, targets) = mlpTrainingSetup()
                return {
                    optimizer.zeroGrad()
                    crossEntropy(model(x), targets).backward()
                    optimizer.step()
                }
            },
            Workload(name: "lenet_train_step", group: "training",
                     note: "LeNet-5 on 1x28x28, batch 64, cross-entropy, Adam (one step)") {
                let model = Sequential {
                    Conv2d(1, 6, kernelSize: 5, padding: 2)
                    ReLU()
                    MaxPool2d(kernelSize: 2)
                    Conv2d(6, 16, kernelSize: 5)
                    ReLU()
                    MaxPool2d(kernelSize: 2)
                    Flatten()
                    Linear(16 * 5 * 5, 120)
                    ReLU()
                    Linear(120, 84)
                    ReLU()
                    Linear(84, 10)
                }
                let optimizer = Adam(model.parameters(), lr: 1e-3)
                let x = Tensor.randn([64, 1, 28, 28]), targets = Tensor.randint(0, 10, [64])
                return {
                    optimizer.zeroGrad()
                    crossEntropy(model(x), targets).backward()
                    optimizer.step()
                }
            },
            Workload(name: "adam_step_1M", group: "training",
                     note: "Adam step over one [1024, 1024] float32 parameter with its gradient set (optimizer only)") {
                let parameter = Tensor.randn([1024, 1024], requiresGrad: true)
                parameter.grad = Tensor.randn([1024, 1024])
                let optimizer = Adam([parameter], lr: 1e-3)
                return { optimizer.step() }
            },
        ]
    }
}
