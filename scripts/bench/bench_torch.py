"""PyTorch (CPU) side of ember-bench: the same workloads, the same JSON-lines schema.

Each workload runs at torch.set_num_threads(1) and (2) and the better median is reported,
with the thread count that achieved it. Timing matches ember-bench: warm-up calls, then at
least --repeats timed calls and at least --min-time seconds, median per operation.

    $TORCH_PYTHON scripts/bench/bench_torch.py [--filter matmul,add] [--threads 1,2]

To add a workload, register a function under the same name as Ember's (see WORKLOADS):
it builds the inputs and returns the closure to time, or None to skip the workload (the
reason goes to stderr).

Group "compile" pairs each workload with a torch.compile (default Inductor backend) twin
named `<name>_compiled`, compiled and warmed up (3 calls) inside prepare, so the timed
closure never includes compilation; if torch.compile fails on the machine, the twin is
skipped. All float32, seeded with torch.manual_seed(0), inference under torch.no_grad()
with modules in eval():

    pointwise_chain_4M[_compiled]             8 pointwise ops (mul, add, tanh, mul, sub,
                                              sigmoid, mul, add) on 4M elements
    layernorm_residual_64x128x768[_compiled]  layer_norm(x + r), [64, 128, 768], affine
    gelu_mlp_block_b256_768[_compiled]        x + fc2(gelu(fc1(x))), 768 -> 3072 -> 768,
                                              exact (erf) GELU, batch 256
    encoder_layer_fwd_16x64x256[_compiled]    TransformerEncoderLayer d=256, 4 heads, ff
                                              1024, dropout 0, batch 16, seq 64, forward
    conv_residual_block_b8_64x56[_compiled]   relu(conv3x3(x) + x), 64 channels, [8, 64, 56, 56]
    mlp_infer_b64[_compiled]                  Linear(784, 256), ReLU, Linear(256, 10),
                                              batch 64, forward
    mlp_train_step_compiled                   mlp_train_step with forward + loss compiled
"""
import argparse
import os
import json
import statistics
import sys
import time

import torch

WORKLOADS = []


def workload(name, group, flop=None, operations_per_call=1, note=""):
    def register(prepare):
        WORKLOADS.append({"name": name, "group": group, "flop": flop, "ops": operations_per_call,
                          "note": note, "prepare": prepare})
        return prepare
    return register


for size in [256, 1024, 2048]:
    @workload(f"matmul_{size}", "matmul", flop=2.0 * size**3, note=f"[{size}, {size}] · [{size}, {size}] float32")
    def _matmul(size=size):
        a, b = torch.randn(size, size), torch.randn(size, size)
        return lambda: torch.matmul(a, b)



@workload("bmm_256x32", "matmul", flop=256 * 2.0 * 32**3, note="[256, 32, 32] · [256, 32, 32] float32")
def _bmm():
    a, b = torch.randn(256, 32, 32), torch.randn(256, 32, 32)
    return lambda: torch.bmm(a, b)


COUNT = 10_000_000


@workload("add_10M", "elementwise", flop=float(COUNT), note="10M float32 + 10M float32")
def _add():
    a, b = torch.randn(COUNT), torch.randn(COUNT)
    return lambda: a + b


@workload("exp_10M", "elementwise", flop=float(COUNT), note="exp of 10M float32")
def _exp():
    a = torch.randn(COUNT)
    return lambda: a.exp()


@workload("relu_10M", "elementwise", flop=float(COUNT), note="relu of 10M float32")
def _relu():
    a = torch.randn(COUNT)
    return lambda: a.relu()


@workload("sum_10M", "reduction", flop=float(COUNT), note="sum of 10M float32 to a scalar")
def _sum():
    a = torch.randn(COUNT)
    return lambda: a.sum()


LOOP = 10_000


@workload("add_1elem_loop", "overhead", operations_per_call=LOOP, note="one-element float32 add, per op (fixed per-op cost)")
def _add_loop():
    a, b = torch.tensor([1.0]), torch.tensor([2.0])

    def body():
        for _ in range(LOOP):
            a + b
    return body


@workload("matmul_16_loop", "overhead", flop=2.0 * 16**3, operations_per_call=LOOP // 10,
          note="[16, 16] · [16, 16] float32, per op (small layers: LSTM cells, tiny MLPs)")
def _matmul_loop():
    a, b = torch.randn(16, 16), torch.randn(16, 16)

    def body():
        for _ in range(LOOP // 10):
            torch.matmul(a, b)
    return body


CONV_FLOP = 2.0 * 64 * 3 * 9 * 224 * 224


@workload("conv2d_3to64_224", "conv", flop=CONV_FLOP, note="conv2d [1, 3, 224, 224] * [64, 3, 3, 3], padding 1, bias, float32")
def _conv():
    x, w, b = torch.randn(1, 3, 224, 224), torch.randn(64, 3, 3, 3), torch.randn(64)
    return lambda: torch.nn.functional.conv2d(x, w, b, padding=1)


@workload("conv2d_3to64_224_backward", "conv", flop=3 * CONV_FLOP, note="forward + backward of the same conv")
def _conv_backward():
    x = torch.randn(1, 3, 224, 224, requires_grad=True)
    w, b = torch.randn(64, 3, 3, 3, requires_grad=True), torch.randn(64, requires_grad=True)
    return lambda: torch.nn.functional.conv2d(x, w, b, padding=1).sum().backward()


@workload("conv2d_64to64_56_b8", "conv", flop=2.0 * 8 * 64 * 64 * 9 * 56 * 56, note="conv2d [8, 64, 56, 56] * [64, 64, 3, 3], padding 1")
def _conv_middle():
    x, w = torch.randn(8, 64, 56, 56), torch.randn(64, 64, 3, 3)
    return lambda: torch.nn.functional.conv2d(x, w, padding=1)


@workload("conv2d_64to64_56_b8_backward", "conv", flop=3 * 2.0 * 8 * 64 * 64 * 9 * 56 * 56,
          note="forward + backward (input and weight gradients) of the same conv")
def _conv_middle_backward():
    x, w = torch.randn(8, 64, 56, 56, requires_grad=True), torch.randn(64, 64, 3, 3, requires_grad=True)
    return lambda: torch.nn.functional.conv2d(x, w, padding=1).sum().backward()


@workload("conv2d_64to128_56_s2_b8", "conv", flop=2.0 * 8 * 128 * 64 * 9 * 28 * 28,
          note="conv2d [8, 64, 56, 56] * [128, 64, 3, 3], stride 2, padding 1 (a ResNet downsampling conv)")
def _conv_strided():
    x, w = torch.randn(8, 64, 56, 56), torch.randn(128, 64, 3, 3)
    return lambda: torch.nn.functional.conv2d(x, w, stride=2, padding=1)


@workload("maxpool2d_3s2_112", "conv", flop=8.0 * 64 * 56 * 56 * 9, note="max_pool2d [8, 64, 112, 112], kernel 3, stride 2, padding 1")
def _maxpool():
    x = torch.randn(8, 64, 112, 112)
    return lambda: torch.nn.functional.max_pool2d(x, 3, 2, 1)


@workload("avgpool2d_2_112", "conv", flop=8.0 * 64 * 112 * 112, note="avg_pool2d [8, 64, 112, 112], kernel 2")
def _avgpool():
    x = torch.randn(8, 64, 112, 112)
    return lambda: torch.nn.functional.avg_pool2d(x, 2)

@workload("tiny_forward_backward", "autograd", note="4 ops on 4-element float32 tensors, then backward")
def _tiny():
    x, w = torch.randn(4, requires_grad=True), torch.randn(4, requires_grad=True)

    def body():
        loss = ((x * w).tanh() + x).sum()
        loss.backward()
        x.grad = None
        w.grad = None
    return body


@workload("mlp_forward_backward", "autograd", note="MLP 64x128 -> 256 -> 10 forward, cross-entropy, backward (float32)")
def _mlp_fb():
    x = torch.randn(64, 128)
    targets = torch.randint(0, 10, (64,))
    w1, b1 = (torch.randn(128, 256) * 0.05).requires_grad_(), torch.zeros(256, requires_grad=True)
    w2, b2 = (torch.randn(256, 10) * 0.05).requires_grad_(), torch.zeros(10, requires_grad=True)

    def body():
        logits = (x @ w1 + b1).relu() @ w2 + b2
        torch.nn.functional.cross_entropy(logits, targets).backward()
        for parameter in (w1, b1, w2, b2):
            parameter.grad = None
    return body


@workload("mlp_train_step", "training", note="MLP 784-256-10, batch 64, cross-entropy, SGD momentum 0.9 (one step)")
def _mlp_step():
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, targets = torch.randn(64, 784), torch.randint(0, 10, (64,))

    def body():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), targets).backward()
        optimizer.step()
    return body


@workload("lenet_train_step", "training", note="LeNet-5 on 1x28x28, batch 64, cross-entropy, Adam (one step)")
def _lenet_step():
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84),
                          nn.ReLU(), nn.Linear(84, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, targets = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))

    def body():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), targets).backward()
        optimizer.step()
    return body


@workload("adam_step_1M", "training",
          note="Adam step over one [1024, 1024] float32 parameter with its gradient set (optimizer only)")
def _adam_step():
    parameter = torch.nn.Parameter(torch.randn(1024, 1024))
    parameter.grad = torch.randn(1024, 1024)
    optimizer = torch.optim.Adam([parameter], lr=1e-3)
    return optimizer.step


def _recurrent_forward_backward(layer):
    """Forward + backward of output.sum() for a batch-first recurrent layer on [16, 32, 64]."""
    x = torch.randn(16, 32, 64)

    def body():
        layer.zero_grad(set_to_none=True)
        layer(x)[0].sum().backward()
    return body


@workload("lstm_fwd_bwd", "nn", note="LSTM 64→128, batch 16, seq 32, float32: forward + backward of output.sum()")
def _lstm():
    return _recurrent_forward_backward(torch.nn.LSTM(64, 128, batch_first=True))


@workload("gru_fwd_bwd", "nn", note="GRU 64→128, batch 16, seq 32, float32: forward + backward of output.sum()")
def _gru():
    return _recurrent_forward_backward(torch.nn.GRU(64, 128, batch_first=True))


@workload("transformer_encoder_fwd_bwd", "nn",
          note="TransformerEncoderLayer d=128, 4 heads, ff 512, dropout 0, batch 8, seq 64, float32: forward + backward")
def _transformer_encoder():
    layer = torch.nn.TransformerEncoderLayer(128, 4, dim_feedforward=512, dropout=0.0, batch_first=True)
    x = torch.randn(8, 64, 128)

    def body():
        layer.zero_grad(set_to_none=True)
        layer(x).sum().backward()
    return body


# --- torch.compile: each workload eager and compiled (Inductor), in group "compile" ---


def _inference(fn, args):
    """The closure to time: fn(*args) under torch.no_grad()."""
    def body():
        with torch.no_grad():
            return fn(*args)
    return body


def _compile_and_warm_up(body):
    """Calls body 3 times so that compilation happens here, not in the timed calls; None if it fails."""
    try:
        for _ in range(3):
            body()
    except Exception as error:  # no C++ compiler, unsupported platform, ...
        print(f"torch.compile failed: {type(error).__name__}: {str(error).strip()[:500]}",
              file=sys.stderr, flush=True)
        return None
    return body


def _compiled(fn, args):
    # A fresh compile for each thread count: Inductor bakes the thread count into its C++ kernels.
    torch.compiler.reset()
    return _compile_and_warm_up(_inference(torch.compile(fn), args))


def compile_pair(name, flop=None, note="", compiled_note=""):
    """Registers `name` (eager) and `name`_compiled (torch.compile, default Inductor backend), both in
    group "compile", from one builder that returns (fn, args); both time fn(*args) under no_grad."""
    def register(build):
        workload(name, "compile", flop=flop, note=note + "; eager")(lambda: _inference(*build()))
        workload(f"{name}_compiled", "compile", flop=flop,
                 note=note + "; torch.compile (Inductor), compiled and warmed up before timing" + compiled_note)(
                     lambda: _compiled(*build()))
        return build
    return register


POINTWISE = 4 * 1024 * 1024


@compile_pair("pointwise_chain_4M", flop=8.0 * POINTWISE,
              note="8 pointwise ops on 4M float32: y = sigmoid(tanh(x*1.5 + 0.5)*x - 0.25)*2 + x")
def _pointwise_chain():
    torch.manual_seed(0)
    x = torch.randn(POINTWISE)

    def chain(x):
        y = x * 1.5
        y = y + 0.5
        y = torch.tanh(y)
        y = y * x
        y = y - 0.25
        y = torch.sigmoid(y)
        y = y * 2
        y = y + x
        return y
    return chain, (x,)


@compile_pair("layernorm_residual_64x128x768",
              note="layer_norm(x + r), x, r [64, 128, 768] float32, LayerNorm(768, eps 1e-5), normal weight and bias")
def _layernorm_residual():
    torch.manual_seed(0)
    x, r = torch.randn(64, 128, 768), torch.randn(64, 128, 768)
    norm = torch.nn.LayerNorm(768, eps=1e-5)
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    norm.eval()

    def residual_norm(x, r):
        return norm(x + r)
    return residual_norm, (x, r)


@compile_pair("gelu_mlp_block_b256_768", flop=2 * 2.0 * 256 * 768 * 3072,
              note="x + fc2(gelu(fc1(x))), Linear 768->3072->768, exact (erf) GELU, x [256, 768] float32, inference")
def _gelu_mlp_block():
    torch.manual_seed(0)
    x = torch.randn(256, 768)
    fc1, fc2 = torch.nn.Linear(768, 3072).eval(), torch.nn.Linear(3072, 768).eval()

    def block(x):
        return x + fc2(torch.nn.functional.gelu(fc1(x)))
    return block, (x,)


@compile_pair("conv_residual_block_b8_64x56", flop=2.0 * 8 * 64 * 56 * 56 * 64 * 9,
              note="relu(conv3x3(x) + x), 64 -> 64 channels, padding 1, bias, x [8, 64, 56, 56] float32, inference")
def _conv_residual_block():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval()
    x = torch.randn(8, 64, 56, 56)

    def block(x):
        return torch.relu(conv(x) + x)
    return block, (x,)


@compile_pair("encoder_layer_fwd_16x64x256",
              note="TransformerEncoderLayer d=256, 4 heads, ff 1024, dropout 0, batch_first, x [16, 64, 256] float32, "
                   "eval + no_grad forward, which takes PyTorch's fused fast path (torch._transformer_encoder_layer_fwd)",
              compiled_note=" (Dynamo captures that same fused op, so Inductor runs it as one extern kernel)")
def _encoder_layer():
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(256, 4, dim_feedforward=1024, dropout=0.0, batch_first=True).eval()
    x = torch.randn(16, 64, 256)
    return layer, (x,)


@compile_pair("mlp_infer_b64", flop=2.0 * 64 * (784 * 256 + 256 * 10),
              note="MLP Linear(784, 256), ReLU, Linear(256, 10), x [64, 784] float32, inference forward")
def _mlp_infer():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)).eval()
    x = torch.randn(64, 784)
    return model, (x,)


MLP_STEP_COMPILED = "mlp_train_step_compiled"


@workload(MLP_STEP_COMPILED, "compile",
          note="mlp_train_step (MLP 784-256-10, batch 64, cross-entropy, SGD momentum 0.9, one step) with "
               "forward + loss torch.compile'd (Inductor, backward through the compiled graph)")
def _mlp_step_compiled():
    torch.compiler.reset()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, targets = torch.randn(64, 784), torch.randint(0, 10, (64,))

    @torch.compile
    def step_loss(x, targets):
        return torch.nn.functional.cross_entropy(model(x), targets)

    def make_body(step):
        def body():
            optimizer.zero_grad()
            step_loss(x, targets).backward()
            step()
        return body

    entry = next(e for e in WORKLOADS if e["name"] == MLP_STEP_COMPILED)
    entry["note"] = entry["note"].split("; optimizer.step")[0]
    if _compile_and_warm_up(make_body(optimizer.step)) is None:  # the compiled forward + loss
        return None
    body = _compile_and_warm_up(make_body(torch.compile(optimizer.step)))
    if body is None:
        print(f"{MLP_STEP_COMPILED}: using an eager optimizer.step", file=sys.stderr, flush=True)
        entry["note"] += "; optimizer.step eager (compiling it failed here)"
        return make_body(optimizer.step)
    entry["note"] += "; optimizer.step torch.compile'd too"
    return body

def measure(entry, repeats, min_time, warmup):
    body = entry["prepare"]()
    if body is None:
        return None
    for _ in range(warmup):
        body()
    samples = []
    start = time.perf_counter()
    while len(samples) < repeats or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        body()
        samples.append((time.perf_counter() - t0) / entry["ops"])
        if len(samples) >= 1000:
            break
    return statistics.median(samples), min(samples), len(samples)


# Imported ONNX models: the same files ember-bench's onnx_* workloads import with EmberONNX, run
# here in onnxruntime (the "torch" column of those rows is onnxruntime). EMBER_ONNX_MODELS names
# the onnx wheel's onnx/backend/test/data/light folder; without it, or without onnxruntime,
# they are not registered.
ONNX_MODELS = os.environ.get("EMBER_ONNX_MODELS")
try:
    import onnxruntime
except ImportError:
    onnxruntime = None
if ONNX_MODELS and onnxruntime is not None:
    for _model in ["resnet50", "densenet121", "inception_v2", "squeezenet", "vgg19"]:
        _path = os.path.join(ONNX_MODELS, f"light_{_model}.onnx")
        if not os.path.exists(_path):
            continue

        @workload(f"onnx_{_model}_light_b1", "onnx",
                  note=f"light_{_model}.onnx, batch 1, onnxruntime {onnxruntime.__version__}")
        def _onnx(path=_path):
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()
            options.log_severity_level = 4
            session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            first = session.get_inputs()[0]
            shape = [d if isinstance(d, int) and d > 0 else 1 for d in first.shape]
            x = torch.rand(*shape).numpy()
            return lambda: session.run(None, {first.name: x})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--filter", default="", help="comma-separated substrings of workload names")
    parser.add_argument("--threads", default="1,2", help="thread counts to try; the best is reported")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=1.0)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    filters = [f for f in args.filter.split(",") if f]
    thread_counts = [int(t) for t in args.threads.split(",")]
    torch.manual_seed(0)
    # Grad mode stays on, as in Ember's default; no input requires grad, so nothing is recorded.
    for entry in WORKLOADS:
        if filters and not any(f in entry["name"] for f in filters):
            continue
        best = None
        for threads in thread_counts:
            torch.set_num_threads(threads)
            result = measure(entry, args.repeats, args.min_time, args.warmup)
            if result is None:
                continue
            median, fastest, repeats = result
            if best is None or median < best[0]:
                best = (median, fastest, repeats, threads)
        if best is None:
            print(f"skipped {entry['name']}", file=sys.stderr, flush=True)
            continue
        median, fastest, repeats, threads = best
        print(json.dumps({"impl": "torch", "name": entry["name"], "group": entry["group"],
                          "seconds": median, "min_seconds": fastest, "repeats": repeats,
                          "threads": threads, "flop": entry["flop"],
                          "note": entry["note"] + f" (torch {torch.__version__})"}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
