"""Writes ONNX's backend node tests (the onnx wheel's own case definitions, no network) and the
model tests the wheel ships into a folder for ember-onnx-conformance: per case, NAME/model.onnx
and NAME/test_data_set_K/{input,output}_I.pb, plus cases.json with each case's tolerances,
operator and group.

    python3 scripts/onnx/generate_node_tests.py /tmp/onnx-node-tests

Cases whose data are not plain tensors (sequences, optionals, maps) are listed with
"tensors": false, so the runner counts them as not passed.
"""
import json
import pathlib
import shutil
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
    for entry in manifest:
        entry["group"] = "node"
    manifest += model_tests(folder)
    (folder / "cases.json").write_text(json.dumps(manifest, indent=1))
    counts = {group: sum(1 for entry in manifest if entry["group"] == group) for group in dict.fromkeys(e["group"] for e in manifest)}
    print(f"wrote {len(manifest)} ONNX backend tests (onnx {onnx.__version__}) to {folder}: {counts}")
    return 0


def model_tests(folder: pathlib.Path) -> list:
    """The model tests the wheel ships under onnx/backend/test/data: the light_* classifiers
    (constant weights; inputs made as ONNX's runner makes them, arange / n, and the expected
    outputs the wheel ships) and the pytorch-converted, pytorch-operator and simple cases (with
    their own data sets)."""
    data = pathlib.Path(onnx.__file__).parent / "backend" / "test" / "data"
    entries = []
    for model_path in sorted((data / "light").glob("light_*.onnx")):
        name = model_path.stem
        expected = model_path.with_name(f"{name}_output_0.pb")
        if not expected.exists():
            continue
        directory = folder / name
        (directory / "test_data_set_0").mkdir(parents=True, exist_ok=True)
        model = onnx.load(str(model_path))
        onnx.save(model, str(directory / "model.onnx"))
        initialized = {i.name for i in model.graph.initializer}
        position = 0
        for value in model.graph.input:
            if value.name in initialized:
                continue
            shape = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in value.type.tensor_type.shape.dim)
            count = int(np.prod(shape))
            x = (np.arange(count).reshape(shape) / count).astype(np.float32)
            (directory / "test_data_set_0" / f"input_{position}.pb").write_bytes(numpy_helper.from_array(x, value.name).SerializeToString())
            position += 1
        (directory / "test_data_set_0" / "output_0.pb").write_bytes(expected.read_bytes())
        entries.append({"name": name, "operator": "", "rtol": 1e-3, "atol": 1e-7, "datasets": 1, "tensors": True, "group": "light"})
    for group in ("pytorch-converted", "pytorch-operator", "simple"):
        for source in sorted((data / group).iterdir()):
            if not (source / "model.onnx").exists():
                continue
            target = folder / f"{group}-{source.name}"
            shutil.copytree(source, target, dirs_exist_ok=True)
            sets = len(list(target.glob("test_data_set_*")))
            settings = json.loads((source / "data.json").read_text()) if (source / "data.json").exists() else {}
            entries.append({"name": target.name, "operator": "", "rtol": settings.get("rtol", 1e-3), "atol": settings.get("atol", 1e-7),
                            "datasets": sets, "tensors": True, "group": group})
    return entries


if __name__ == "__main__":
    sys.exit(main())
