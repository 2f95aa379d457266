#!/usr/bin/env bash
# The real-GPU check of issue 7: the CUDA tests on the GPU (no simulator), then a short benchmark
# (fastnn on the GPU against fastnn on the CPU and PyTorch on the same GPU). Under 5 minutes.
#
#   scripts/gpu_check.sh            # in the repository root's environment (numba-cuda installed)
#
# On the workplace's device machine the image holds numba, numba-cuda, PyTorch, pytest and
# hypothesis: nothing to install, fastnn is read from the working tree. Results go to $OUT when set.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
unset NUMBA_ENABLE_CUDASIM
PY=${PYTHON:-python3}
out=${OUT:-/tmp}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
$PY -c "import numba, numba_cuda; print('numba', numba.__version__, 'numba-cuda', numba_cuda.__version__)" || true
$PY -c "from fastnn import device; device.check('cuda'); print('GPU:', device.describe())"
timeout 180 $PY -m pytest -q -x -p no:cacheprovider tests/cuda 2>&1 | tee "$out/gpu_tests.log"
timeout 150 $PY bench/bench_cuda.py --n 20000 --repeat 3 --json "$out/gpu_bench.json" 2>&1 | tee "$out/gpu_bench.log"
