import Ember

/// Convolution and pooling workloads (the layers that dominate CNN training). Sizes match
/// scripts/bench/bench_torch.py.
extension Workload {
    static var convolution: [Workload] {
        let flop = 2.0 * 64 * 3 * 9 * 224 * 224
        let forward = Workload(name: "conv2d_3to64_224", group: "conv", flop: flop,
                               note: "conv2d [1, 3, 224, 224] ⋆ [64, 3, 3, 3], padding 1, bias, float32") {
            let x = Tensor.randn([1, 3, 224, 224]), w = Tensor.randn([64, 3, 3, 3]), b = Tensor.randn([64])
            return { _ = Functional.conv2d(x, weight: w, bias: b, padding: 1) }
        }
        let backward = Workload(name: "conv2d_3to64_224_backward", group: "conv", flop: 3 * flop,
                                note: "forward + backward (input and weight gradients) of the same conv") {
            let x = Tensor.randn([1, 3, 224, 224]).requiresGrad_(), w = Tensor.randn([64, 3, 3, 3]).requiresGrad_()
            let b = Tensor.randn([64]).requiresGrad_()
            return { Functional.conv2d(x, weight: w, bias: b, padding: 1).sum().backward() }
        }
        let middle = Workload(name: "conv2d_64to64_56_b8", group: "conv", flop: 2.0 * 8 * 64 * 64 * 9 * 56 * 56,
                              note: "conv2d [8, 64, 56, 56] ⋆ [64, 64, 3, 3], padding 1, float32") {
            let x = Tensor.randn([8, 64, 56, 56]), w = Tensor.randn([64, 64, 3, 3])
            return { _ = Functional.conv2d(x, weight: w, padding: 1) }
        }
        let middleBackward = Workload(name: "conv2d_64to64_56_b8_backward", group: "conv", flop: 3 * 2.0 * 8 * 64 * 64 * 9 * 56 * 56,
                                      note: "forward + backward (input and weight gradients) of the same conv") {
            let x = Tensor.randn([8, 64, 56, 56]).requiresGrad_(), w = Tensor.randn([64, 64, 3, 3]).requiresGrad_()
            return { Functional.conv2d(x, weight: w, padding: 1).sum().backward() }
        }
        let strided = Workload(name: "conv2d_64to128_56_s2_b8", group: "conv", flop: 2.0 * 8 * 128 * 64 * 9 * 28 * 28,
                               note: "conv2d [8, 64, 56, 56] ⋆ [128, 64, 3, 3], stride 2, padding 1 (a ResNet downsampling conv)") {
            let x = Tensor.randn([8, 64, 56, 56]), w = Tensor.randn([128, 64, 3, 3])
            return { _ = Functional.conv2d(x, weight: w, stride: 2, padding: 1) }
        }
        let maxPool = Workload(name: "maxpool2d_3s2_112", group: "conv", flop: 8.0 * 64 * 56 * 56 * 9,
                               note: "max_pool2d [8, 64, 112, 112], kernel 3, stride 2, padding 1") {
            let x = Tensor.randn([8, 64, 112, 112])
            return { _ = Functional.maxPool2d(x, kernelSize: 3, stride: 2, padding: 1) }
        }
        let avgPool = Workload(name: "avgpool2d_2_112", group: "conv", flop: 8.0 * 64 * 112 * 112,
                               note: "avg_pool2d [8, 64, 112, 112], kernel 2") {
            let x = Tensor.randn([8, 64, 112, 112])
            return { _ = Functional.avgPool2d(x, kernelSize: 2) }
        }
        return [forward, backward, middle, middleBackward, strided, maxPool, avgPool]
    }
}
