#!/usr/bin/env python3
"""Runs an ONNX classifier exported by `edgedistill export` in ONNX Runtime.

    python3 scripts/onnx_run.py MODEL.onnx INPUTS.json   # {"input_ids": [[...]], "attention_mask": [[...]]}

Prints {"logits": [[...]], "providers": [...]} as one JSON line. Needs only onnxruntime (and the
numpy it brings); the tests run it to compare ONNX Runtime's logits with EdgeDistill's.
"""
import json
import sys

import numpy as np
import onnxruntime as ort

model, inputs = sys.argv[1], json.load(open(sys.argv[2]))
options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
feeds = {name: np.array(inputs[name], dtype=np.int64) for name in ("input_ids", "attention_mask")}
names = [i.name for i in session.get_inputs()]
outputs = [o.name for o in session.get_outputs()]
assert names == ["input_ids", "attention_mask"] and outputs == ["logits"], (names, outputs)
logits = session.run(["logits"], feeds)[0]
print(json.dumps({"logits": logits.tolist(), "providers": session.get_providers()}))
