// The example from README.md, verbatim, so that it is compiled with the package;
// ReadmeExampleTests checks that the two stay identical.
import Ember

manualSeed(0)
let x = Tensor.randn([64, 3])                       // a batch of inputs
let w = Tensor.randn([3, 1], requiresGrad: true)    // a parameter
let target = x.sum(dim: 1, keepDim: true)
for _ in 0..<100 {
    let loss = ((x.matmul(w) - target).square()).mean()
    loss.backward()
    withNoGrad { w -= w.grad! * 0.1 }
    w.grad = nil
}
print(w)   // close to [[1], [1], [1]]
