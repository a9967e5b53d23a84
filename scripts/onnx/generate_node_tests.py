"""Writes ONNX's backend node tests (the onnx wheel's own case definitions, no network) into a
folder for ember-onnx-conformance: per case, NAME/model.onnx and NAME/test_data_set_K/
{input,output}_I.pb, plus cases.json with each case's tolerances and operator.

    python3 scripts/onnx/generate_node_tests.py /tmp/onnx-node-tests

Cases whose data are not plain tensors (sequences, optionals, maps) are listed with
"tensors": false, so the runner counts them as not passed.
"""
import json
import pathlib
import sys
import warnings

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.case.node import collect_testcases


def main() -> int:
    folder = pathlib.Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")
    manifest = []
    for case in collect_testcases(None):
        directory = folder / case.name
        directory.mkdir(exist_ok=True)
        onnx.save(case.model, str(directory / "model.onnx"))
        operator = case.model.graph.node[0].op_type if case.model.graph.node else ""
        plain = True
        for index, (inputs, outputs) in enumerate(case.data_sets or []):
            data = directory / f"test_data_set_{index}"
            data.mkdir(exist_ok=True)
            for kind, values, infos in (("input", inputs, case.model.graph.input), ("output", outputs, case.model.graph.output)):
                for i, value in enumerate(values):
                    name = infos[i].name if i < len(infos) else f"{kind}_{i}"
                    if isinstance(value, onnx.TensorProto):  # already a tensor (float8, int4, …)
                        proto = onnx.TensorProto()
                        proto.CopyFrom(value)
                        proto.name = name
                    elif isinstance(value, (np.ndarray, np.generic)) and np.asarray(value).dtype.kind not in "OUSV":
                        proto = numpy_helper.from_array(np.asarray(value), name)
                    else:  # sequences, optionals, maps, strings
                        plain = False
                        continue
                    (data / f"{kind}_{i}.pb").write_bytes(proto.SerializeToString())
        manifest.append({"name": case.name, "operator": operator, "rtol": case.rtol, "atol": case.atol,
                         "datasets": len(case.data_sets or []), "tensors": plain})
    (folder / "cases.json").write_text(json.dumps(manifest, indent=1))
    print(f"wrote {len(manifest)} ONNX node tests (onnx {onnx.__version__}) to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
