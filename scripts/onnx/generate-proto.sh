#!/usr/bin/env bash
# Regenerates Sources/EmberONNX/Generated/onnx.pb.swift from ONNX's onnx.proto. Builds never run
# this (no protoc plugin at build time): run it by hand after changing the pinned versions, and
# commit both scripts/onnx/onnx.proto and the generated file.
#
#   scripts/onnx/generate-proto.sh
#
# Needs: python3 with pip (downloads the onnx wheel, which carries onnx.proto), protoc
# (Debian's protobuf-compiler), and Swift (builds protoc-gen-swift from swift-protobuf at the
# version Package.swift depends on).
set -euo pipefail
cd "$(dirname "$0")/../.."
onnx_version=1.23.2          # the onnx wheel whose onnx.proto is committed
protobuf_version=1.39.0      # must match Package.swift's swift-protobuf requirement
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

command -v protoc >/dev/null || { echo "generate-proto: protoc is missing (apt-get install protobuf-compiler)"; exit 1; }
python3 -m pip download --quiet --no-deps --dest "$work/wheel" "onnx==$onnx_version"
python3 - "$work/wheel" scripts/onnx/onnx.proto <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/onnx-*.whl")[0]
with zipfile.ZipFile(wheel) as archive, open(sys.argv[2], "wb") as out:
    out.write(archive.read("onnx/onnx.proto"))
PY
git clone --quiet --branch "$protobuf_version" https://github.com/apple/swift-protobuf "$work/swift-protobuf"
swift build --package-path "$work/swift-protobuf" -c release --product protoc-gen-swift
protoc --plugin=protoc-gen-swift="$work/swift-protobuf/.build/release/protoc-gen-swift" \
       --swift_opt=Visibility=Internal --swift_out=Sources/EmberONNX/Generated \
       --proto_path=scripts/onnx scripts/onnx/onnx.proto
echo "generate-proto: wrote Sources/EmberONNX/Generated/onnx.pb.swift from onnx $onnx_version's onnx.proto"
