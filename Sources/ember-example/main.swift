import Ember

// A first look at Ember: eager tensors, broadcasting, autograd.
manualSeed(0)
let x = Tensor([[1, 2, 3], [4, 5, 6]] as [[Float]])
print("x =", x)
print("x.t =", x.t)
print("x * 2 + 0.5 =", x * 2 + 0.5)
print("x[..., 1] =", x[..., 1])

let w = Tensor.randn([3, 2], requiresGrad: true)
let y = (x.reshaped([2, 3, 1]) * w.reshaped([1, 3, 2])).sum(dim: 1).tanh()
let loss = y.sum()
loss.backward()
print("loss =", loss)
print("dloss/dw =", w.grad!)
