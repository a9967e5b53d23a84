"""Runs the node tests generate_node_tests.py wrote through onnxruntime, with the same
tolerances and rules as ember-onnx-conformance, and prints its pass count: the reference the
EmberONNX count is compared with, on the same cases in the same run.

    python3 scripts/onnx/run_node_tests_onnxruntime.py /tmp/onnx-node-tests
"""
import json
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper


def passes(folder: pathlib.Path, case: dict) -> bool:
    if not case["tensors"]:
        return False
    directory = folder / case["name"]
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 4
        session = ort.InferenceSession(str(directory / "model.onnx"), options, providers=["CPUExecutionProvider"])
        inputs = [i.name for i in session.get_inputs()]
        for index in range(case["datasets"]):
            data = directory / f"test_data_set_{index}"
            feeds = {}
            for position, name in enumerate(inputs):
                path = data / f"input_{position}.pb"
                if path.exists():
                    tensor = onnx.TensorProto()
                    tensor.ParseFromString(path.read_bytes())
                    feeds[name] = numpy_helper.to_array(tensor)
            results = session.run(None, feeds)
            for position, got in enumerate(results):
                path = data / f"output_{position}.pb"
                if not path.exists():
                    continue
                tensor = onnx.TensorProto()
                tensor.ParseFromString(path.read_bytes())
                expected = numpy_helper.to_array(tensor)
                if got.shape != expected.shape or got.dtype != expected.dtype:
                    return False
                if not np.allclose(got.astype(np.float64), expected.astype(np.float64), rtol=case["rtol"], atol=case["atol"], equal_nan=True):
                    return False
        return True
    except Exception:
        return False


def main() -> int:
    folder = pathlib.Path(sys.argv[1])
    cases = json.loads((folder / "cases.json").read_text())
    results = [(case.get("group", "node"), passes(folder, case)) for case in cases]
    groups = list(dict.fromkeys(group for group, _ in results))
    count = {g: (sum(ok for group, ok in results if group == g), sum(1 for group, _ in results if group == g)) for g in groups}
    node_passed, node_total = count.pop("node", (0, 0))
    print(f"onnx conformance: {node_passed} of {node_total} ONNX node tests pass with onnxruntime {ort.__version__}")
    if count:
        print("onnx conformance: model tests with onnxruntime: " + ", ".join(f"{g} {p} of {t}" for g, (p, t) in count.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
