#!/usr/bin/env bash
# The Python packages the tests need (no PyTorch): onnxruntime, for the ONNX export test.
# Installs what is missing from PyPI; fails, naming the package, when it cannot.
set -euo pipefail
python3 -c "import onnxruntime" 2>/dev/null && exit 0
echo "installing onnxruntime (pip) ..."
python3 -m pip install --quiet --disable-pip-version-check onnxruntime || {
    echo "install_python_deps.sh: could not install onnxruntime from PyPI (the ONNX export test needs it)" >&2
    exit 1
}
