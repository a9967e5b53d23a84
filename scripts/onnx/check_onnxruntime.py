"""Checks the ONNX models ember-onnx-cases exported: onnx's full checker accepts each one, and
onnxruntime's output on the saved input matches Ember's within 1e-5 relative (float32).

    python3 scripts/onnx/check_onnxruntime.py /tmp/ember-onnx

Exits 1 on any mismatch, listing every failing case.
"""
import json
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort

RTOL = 1e-5   # the bound, relative to the output's largest magnitude
ATOL = 1e-6   # for elements near zero, where a relative bound is meaningless


def check(folder: pathlib.Path, case: dict) -> str | None:
    name = case["name"]
    path = folder / f"{name}.onnx"
    onnx.checker.check_model(str(path), full_check=True)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    x = np.load(folder / f"{name}.input.npy")
    expected = np.load(folder / f"{name}.output.npy")
    (got,) = session.run(None, {case["input"]: x})
    if got.shape != expected.shape or got.dtype != expected.dtype:
        return f"{name}: onnxruntime gave {got.dtype}{list(got.shape)}, Ember {expected.dtype}{list(expected.shape)}"
    scale = max(float(np.max(np.abs(expected))), 1e-30) if expected.size else 1.0
    error = float(np.max(np.abs(got.astype(np.float64) - expected))) if expected.size else 0.0
    bound = RTOL * scale + ATOL
    print(f"  {name:28s} max |ort - ember| = {error:.2e} (bound {bound:.1e})")
    return None if error <= bound else f"{name}: max difference {error:.3e} exceeds {bound:.1e}"


def main() -> int:
    folder = pathlib.Path(sys.argv[1])
    cases = json.loads((folder / "cases.json").read_text())
    failures = []
    for case in cases:
        try:
            failure = check(folder, case)
        except Exception as error:  # a model the checker or the runtime refuses is a failure
            failure = f"{case['name']}: {type(error).__name__}: {error}"
        if failure:
            failures.append(failure)
    print(f"onnx: {len(cases) - len(failures)} of {len(cases)} exported models pass onnx.checker (full_check) and "
          f"match onnxruntime {ort.__version__} (onnx {onnx.__version__})")
    for failure in failures:
        print("  FAIL", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
