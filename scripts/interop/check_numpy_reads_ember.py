#!/usr/bin/env python3
"""Checks that numpy (from PyPI) reads the files Ember writes: every .npy, stored and deflated
.npz, and (when the `safetensors` package is installed) the .safetensors file.

    swift run ember-interop-writer /tmp/ember-interop
    python3 scripts/interop/check_numpy_reads_ember.py /tmp/ember-interop
"""
import json
import os
import struct
import sys

import numpy as np


def main(folder):
    expected = json.load(open(os.path.join(folder, "expected.json")))
    failures = []

    def check(label, array, spec):
        want = np.array(spec["data"], dtype=np.float64).reshape(spec["shape"])
        got = np.asarray(array)
        if spec["dtype"] != "bfloat16" and str(got.dtype) != spec["dtype"]:
            failures.append("%s: dtype %s != %s" % (label, got.dtype, spec["dtype"]))
        if list(got.shape) != spec["shape"] or not np.array_equal(got.astype(np.float64), want):
            failures.append("%s: values differ" % label)

    for name, spec in expected.items():
        if spec["dtype"] == "bfloat16":
            continue
        check(name + ".npy", np.load(os.path.join(folder, name + ".npy")), spec)
    for archive in ["stored.npz", "deflated.npz"]:
        with np.load(os.path.join(folder, archive)) as z:
            names = set(z.files)
            want = {k for k, v in expected.items() if v["dtype"] != "bfloat16"}
            if names != want:
                failures.append("%s: members %s" % (archive, sorted(names ^ want)))
            for name in names & want:
                check("%s:%s" % (archive, name), z[name], expected[name])

    # safetensors: parse the header with the standard library so no extra package is needed.
    path = os.path.join(folder, "all.safetensors")
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    if n % 8 != 0 or header.get("__metadata__") != {"writer": "ember"}:
        failures.append("safetensors: header padding or metadata")
    kinds = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "|u1", "BOOL": "|b1"}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        data = raw[8 + n + begin:8 + n + end]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16
            array = bits.view(np.float32).reshape(info["shape"])
        else:
            array = np.frombuffer(data, dtype=kinds[info["dtype"]]).reshape(info["shape"])
        check("safetensors:" + name, array, expected[name])

    if failures:
        print("numpy could not read Ember's files correctly:\n  " + "\n  ".join(failures))
        return 1
    print("numpy %s read %d Ember arrays from .npy, .npz (stored, deflated) and .safetensors" % (np.__version__, len(expected)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "ember-interop"))
