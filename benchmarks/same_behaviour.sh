#!/usr/bin/env bash
# Behaviour check for a refactor: the same three searches (one thread, seed 0) run from two source
# trees must give identical metrics. Usage: benchmarks/same_behaviour.sh SRC OUT
#   SRC: a checkout's src/ folder (e.g. of `git worktree add ../before HEAD~5`); OUT: a new folder.
# Then: benchmarks/same_behaviour.sh --compare OUT_A OUT_B
set -euo pipefail
if [ "${1:-}" = "--compare" ]; then
    python3 - "$2" "$3" <<'PY'
import json, sys
from pathlib import Path
a, b = Path(sys.argv[1]), Path(sys.argv[2])
SKIP = {"train_seconds", "wall_seconds", "search_seconds", "device", "run"}  # time, place
def clean(x):
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items() if k not in SKIP}
    if isinstance(x, list):
        return [clean(v) for v in x]
    return x
files = sorted(p.relative_to(a) for p in a.rglob("metrics.json"))
same = 0
for rel in files:
    other = b / rel
    if not other.exists():
        print(f"MISSING in {b}: {rel}"); continue
    x, y = clean(json.loads((a / rel).read_text())), clean(json.loads(other.read_text()))
    if x == y:
        same += 1
    else:
        print(f"DIFFERENT: {rel}")
        for k in sorted(set(x) | set(y)):
            if x.get(k) != y.get(k):
                print(f"  {k}: {str(x.get(k))[:120]} != {str(y.get(k))[:120]}")
extra = sorted(p.relative_to(b) for p in b.rglob("metrics.json") if not (a / p.relative_to(b)).exists())
for rel in extra:
    print(f"MISSING in {a}: {rel}")
print(f"{same} of {len(files)} metrics.json identical (timings and paths left out)")
PY
    exit 0
fi
SRC=$(cd "$1" && pwd); OUT=$2
mkdir -p "$OUT"
SN() { PYTHONPATH="$SRC" OMP_NUM_THREADS=1 python -m sharenas.cli "$@" --quiet; }
COMMON=(--set train.threads=1 --set seed=0)
SN search configs/multimnist-fusion.yaml --out "$OUT/fusion" "${COMMON[@]}" \
    --set data.limit=1500 --set train.epochs=2 --set "model.backbone.channels=[8,16,32]"
SN search configs/census-routing.yaml --out "$OUT/routing" "${COMMON[@]}" \
    --set data.limit=4000 --set train.epochs=2 --set search.reinforce.warmup_epochs=0
SN search configs/multimnist-partition.yaml --smoke --out "$OUT/partition" "${COMMON[@]}"
echo "done: $OUT"
