import Ember

/// The tensor-level workloads: GEMM, memory-bound elementwise kernels, a reduction, and the
/// fixed cost of one tiny op. Sizes match scripts/bench/bench_torch.py.
extension Workload {
    static var matmul: [Workload] {
        let square = [256, 1024, 2048].map { size in
            Workload(name: "matmul_\(size)", group: "matmul", flop: 2 * pow3(size),
                     note: "[\(size), \(size)] · [\(size), \(size)] float32") {
                let a = Tensor.randn([size, size]), b = Tensor.randn([size, size])
                return { _ = a.matmul(b) }
            }
        }
        // Many small matrices (attention heads): the batch is split across threads.
        let batched = Workload(name: "bmm_256x32", group: "matmul", flop: 256 * 2 * pow3(32),
                               note: "[256, 32, 32] · [256, 32, 32] float32") {
            let a = Tensor.randn([256, 32, 32]), b = Tensor.randn([256, 32, 32])
            return { _ = a.bmm(b) }
        }
        return square + [batched]
    }

    static var elementwise: [Workload] {
        let count = 10_000_000
        return [
            Workload(name: "add_10M", group: "elementwise", flop: Double(count), note: "10M float32 + 10M float32") {
                let a = Tensor.randn([count]), b = Tensor.randn([count])
                return { _ = a + b }
            },
            Workload(name: "exp_10M", group: "elementwise", flop: Double(count), note: "exp of 10M float32") {
                let a = Tensor.randn([count])
                return { _ = a.exp() }
            },
            Workload(name: "relu_10M", group: "elementwise", flop: Double(count), note: "relu of 10M float32") {
                let a = Tensor.randn([count])
                return { _ = a.relu() }
            },
            Workload(name: "sum_10M", group: "reduction", flop: Double(count), note: "sum of 10M float32 to a scalar") {
                let a = Tensor.randn([count])
                return { _ = a.sum() }
            },
        ]
    }

    static var overhead: [Workload] {
        let loop = 10_000
        return [
            Workload(name: "add_1elem_loop", group: "overhead", operationsPerCall: loop,
                     note: "one-element float32 add, per op (fixed per-op cost)") {
                let a = Tensor([1.0] as [Float]), b = Tensor([2.0] as [Float])
                return {
                    for _ in 0..<loop { _ = a + b }
                }
            },
            Workload(name: "matmul_16_loop", group: "overhead", flop: 2 * pow3(16), operationsPerCall: loop / 10,
                     note: "[16, 16] · [16, 16] float32, per op (small layers: LSTM cells, tiny MLPs)") {
                let a = Tensor.randn([16, 16]), b = Tensor.randn([16, 16])
                return {
                    for _ in 0..<(loop / 10) { _ = a.matmul(b) }
                }
            },
        ]
    }

    private static func pow3(_ size: Int) -> Double { Double(size) * Double(size) * Double(size) }
}
