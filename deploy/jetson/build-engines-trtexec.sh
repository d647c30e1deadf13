#!/usr/bin/env bash
# Alternative to `ildscreen engines build`: build FP16 TensorRT engines with trtexec directly,
# e.g. to compare timings. The service itself uses ONNX Runtime's TensorRT execution provider
# and its own engine cache; these .engine files are for inspection and benchmarking.
#   usage: build-engines-trtexec.sh MODELS_DIR OUT_DIR
set -euo pipefail
models=${1:?usage: build-engines-trtexec.sh MODELS_DIR OUT_DIR}
out=${2:?usage: build-engines-trtexec.sh MODELS_DIR OUT_DIR}
trtexec=${TRTEXEC:-/usr/src/tensorrt/bin/trtexec}
mkdir -p "$out"
for onnx in "$models"/*.onnx; do
    name=$(basename "$onnx" .onnx)
    case $name in *int8*) precision=--int8 ;; *) precision=--fp16 ;; esac
    "$trtexec" --onnx="$onnx" $precision --saveEngine="$out/$name.engine" \
        --timingCacheFile="$out/timing.cache" --skipInference
done
