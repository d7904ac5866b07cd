"""Runs an exported Sono ONNX file in ONNX Runtime (CPU) for tests/export/test_onnx_runtime.cpp.

    run_onnx_runtime.py MODEL.onnx INPUT.bin N S OUT_DIR

Checks the model with onnx.checker.check_model(full_check=True), feeds INPUT.bin
(raw little-endian float32, C order, [N, 3, S, S]) as "image" and writes every
output as OUT_DIR/<name>.bin (float32, C order) plus OUT_DIR/outputs.json with
the names and shapes. Exits non-zero with the reason on any failure.
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    model_path, input_path, n, s, out_dir = sys.argv[1:6]
    n, s = int(n), int(s)
    onnx.checker.check_model(onnx.load(model_path), full_check=True)
    x = np.fromfile(input_path, dtype="<f4").reshape(n, 3, s, s)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sess = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    outputs = sess.run(names, {"image": x})
    os.makedirs(out_dir, exist_ok=True)
    shapes = {}
    for name, y in zip(names, outputs):
        y = np.ascontiguousarray(y, dtype="<f4")
        y.tofile(os.path.join(out_dir, name + ".bin"))
        shapes[name] = list(y.shape)
    with open(os.path.join(out_dir, "outputs.json"), "w") as f:
        json.dump({"onnxruntime": ort.__version__, "onnx": onnx.__version__, "outputs": shapes}, f)


if __name__ == "__main__":
    main()
