#!/usr/bin/env bash
# Several domains' nightly loops side by side on one GPU machine (bench/days.py, one process each).
#
#   bench/gpu_days.sh OUT_DIR [SECONDS] [bench/days.py options...]
#
# Needs .gpu-site/ (the wheels: bench/gpu.sh --wheels, or pip install --target .gpu-site
# gpu-wheels/*.whl) and .gpu-model/ (bench/gpu_model.py) beside the checkout. Runs 150
# intents (5 nights of 2,250 events) and 77 intents (3 nights of 2,500) for intent seeds 0-3
# each: eight processes of two threads on the machine's 16 cores and one GPU, no ceiling.
# Each stops after SECONDS (default 470) and keeps the nights it finished (bench/days.py
# writes its JSON after every night); options after SECONDS go to every run (an ablation,
# e.g. --no-anchor-evidence). On an H200 the eight took 204-219 s.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${1:?usage: bench/gpu_days.sh OUT_DIR [SECONDS] [bench/days.py options...]}"
LIMIT="${2:-470}"
shift $(( $# >= 2 ? 2 : 1 ))
mkdir -p "$OUT_DIR"
export PYTHONPATH="$PWD/.gpu-site:$PWD"
pids=()
run() {
    local name=$1; shift
    timeout "$LIMIT" python3 bench/days.py --model .gpu-model/minilm-l6-fp16 --data .gpu-model/clinc150 \
        --ceiling-days none --threads 2 "$@" --out "$OUT_DIR/$name.json" > "$OUT_DIR/$name.log" 2>&1 &
    pids+=($!)
}
for seed in 0 1 2 3; do
    run "days150_s$seed" --intents 150 --per-day 2250 --intents-seeds "$seed" "$@"
    run "days77_s$seed" --intents 77 --per-day 2500 --days 3 --intents-seeds "$seed" "$@"
done
nvidia-smi --query-gpu=name,memory.used,utilization.gpu --format=csv -l 60 > "$OUT_DIR/nvidia-smi.csv" 2>&1 &
smi=$!
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
kill "$smi" 2>/dev/null
tail -n 2 "$OUT_DIR"/*.log
exit $status
