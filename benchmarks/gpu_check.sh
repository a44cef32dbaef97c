#!/usr/bin/env bash
# The GPU check (issue 17), for a CUDA machine, from the repository root:
#   1. the test suite on CUDA (train.device auto picks it; AMP is on there by default);
#   2. a full-size MultiMNIST fusion search and the census routing search with AMP, printed as
#      BENCHMARKS rows (time per epoch, peak GPU memory, test metrics) by benchmarks/gpu_rows.py.
# It needs a Python whose torch sees CUDA (PYTHON, default python3) with sharenas' dependencies,
# and the datasets in the cache ($SHARENAS_DATA) when the machine has no network.
# QUICK=1 shrinks the searches to a few minutes. Writes runs/gpu-check/ and gpu-check.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$PYTHON" - <<'PY'
import torch
if not torch.cuda.is_available():
    raise SystemExit(f"torch {torch.__version__} sees no CUDA device: run this on a GPU machine")
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}")
PY
XDIST=$("$PYTHON" -c "import xdist" 2>/dev/null && echo "-n 4" || true)  # 4 test processes
"$PYTHON" -m pytest -q -x $XDIST -m "not integration" -p no:cacheprovider tests | tail -5
"$PYTHON" benchmarks/gpu_rows.py ${QUICK:+--quick} | tee gpu-check.md
