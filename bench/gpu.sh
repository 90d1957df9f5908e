#!/usr/bin/env bash
# The one GPU check: gpu-marked tests, then the serving and targeted-tuning benchmarks on CUDA.
#
#   bench/gpu.sh --wheels DIR      (DIR: made by `make gpu-wheels` on a machine with a package index)
#
# For the GPU machines described in ../../shared/GPU.md: python3 3.12 with torch,
# transformers, peft, grpcio 1.84 and the scientific stack, but no package index. The
# wheels in DIR (duckdb, implicit, gguf, grpcio 1.85, grpcio health/reflection, pytest)
# are installed with --no-index --no-deps into .gpu-site/ beside the checkout, which
# goes first on PYTHONPATH: the machine's own packages (torch included) are never
# touched or reinstalled. Writes bench/results/gpu/serving.json and
# bench/results/gpu/targeted_tuning.json; stays under 8 minutes on an H100.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
WHEELS=""
QUICK=""
while [ $# -gt 0 ]; do
    case "$1" in
        --wheels) WHEELS="${2:?--wheels needs a folder}"; shift 2 ;;
        --quick) QUICK="--quick"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "gpu.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
PYTHON="${PYTHON:-python3}"
SITE="$PWD/.gpu-site"

if [ -n "$WHEELS" ]; then
    if ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
        echo "gpu.sh: --wheels $WHEELS holds no .whl files (run make gpu-wheels)" >&2
        exit 2
    fi
    echo "== installing $(ls "$WHEELS"/*.whl | wc -l) wheels from $WHEELS into $SITE"
    "$PYTHON" -m pip install --quiet --no-index --no-deps --upgrade --target "$SITE" "$WHEELS"/*.whl
fi
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"

"$PYTHON" - <<'PY'
import grpc, torch, transformers, peft, duckdb, implicit
print(f"python ok: torch {torch.__version__} (cuda {torch.cuda.is_available()}), transformers {transformers.__version__}, "
      f"peft {peft.__version__}, grpcio {grpc.__version__}, duckdb {duckdb.__version__}, implicit {implicit.__version__}")
if not torch.cuda.is_available():
    raise SystemExit("gpu.sh: torch sees no CUDA device")
print("device:", torch.cuda.get_device_name(0))
PY

mkdir -p bench/results/gpu
status=0
echo "== pytest -m gpu, then the gathered-LoRA exactness tests on this machine's torch/transformers/peft"
{ timeout 150 "$PYTHON" -m pytest -q -ra -p no:cacheprovider -m gpu tests/test_gpu.py \
  && timeout 90 "$PYTHON" -m pytest -q -ra -p no:cacheprovider tests/test_serving_gathered.py; } 2>&1 \
  | tee bench/results/gpu/pytest.log; [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
echo "== bench/serving.py --device cuda $QUICK"
timeout 180 "$PYTHON" bench/serving.py --device cuda $QUICK || status=1
echo "== bench/targeted_tuning.py --device cuda $QUICK"
timeout 150 "$PYTHON" bench/targeted_tuning.py --device cuda --threads 8 $QUICK || status=1
ls -l bench/results/gpu
exit $status
