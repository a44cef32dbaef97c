#!/usr/bin/env bash
# Bad input and faults through the CLI, one line each: exit status, whether a traceback was
# printed, the last message line, and what happened to the files. Run it against this checkout
# or another one's src/ to compare (the BENCHMARKS.md table "Reliability (issue 12)"):
#   bash benchmarks/reliability.sh [SRC_DIR]      (default: this checkout's src/)
set -u
HERE="$(cd "$(dirname "$0")/.." && pwd)"
SRC="$(cd "${1:-$HERE/src}" && pwd)"
PY="$HERE/.venv/bin/python"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export PYTHONPATH="$SRC" SHARENAS_DATA="$WORK/cache" SHARENAS_OFFLINE=1 OMP_NUM_THREADS=1
S=("$PY" -m sharenas.cli)

cat > c.yaml <<'Y'
data: {name: synthetic-mmoe, train_size: 256, val_size: 64, test_size: 64, dim: 8}
model: {arch: hard-sharing, backbone: {name: mlp, widths: [8, 8]}}
train: {epochs: 2, batch_size: 32, threads: 1}
Y
cat > payload.py <<'P'
import os, sys, torch
class Payload:
    def __reduce__(self):
        return (os.system, (f"touch {os.getcwd()}/PWNED",))
torch.save({"model": Payload(), "epoch": 0}, sys.argv[1])
P
row() {  # label, exit status; reads e.txt
  printf '%-36s | exit %s | traceback %s | %s\n' "$1" "$2" "$(grep -c Traceback e.txt)" \
    "$(grep -v '^ ' e.txt | grep -v '^$' | tail -1 | cut -c1-140)"
}
"${S[@]}" train c.yaml --out r -q > /dev/null 2>&1

cp -r r r1; "$PY" payload.py r1/best.pt
"${S[@]}" evaluate r1 -q > /dev/null 2> e.txt; row "payload in best.pt (evaluate)" $?
[ -e PWNED ] && echo "    the payload RAN" && rm PWNED

cp -r r r2; head -c 300 r/checkpoint.pt > r2/checkpoint.pt
"${S[@]}" train c.yaml --out r2 --resume -q > /dev/null 2> e.txt
row "truncated checkpoint.pt (--resume)" $?

cp -r r r3; sums=$(md5sum r3/config.yaml r3/arch.json)
"${S[@]}" train c.yaml --out r3 --resume --arch mmoe -q > /dev/null 2> e.txt
row "--resume with another --arch" $?
[ "$sums" = "$(md5sum r3/config.yaml r3/arch.json)" ] || echo "    config.yaml, arch.json OVERWRITTEN"

"${S[@]}" train c.yaml --out none --resume -q > /dev/null 2> e.txt
row "--resume on a missing folder" $?
[ -e none/metrics.json ] && echo "    silently started a new run"

"${S[@]}" train "$WORK" -q > /dev/null 2> e.txt; row "a folder given as the config" $?

"$PY" -c "
rows = ['x,y,label,size'] + [f'{i % 7},{i / 3},{i % 2},{i / 7}' for i in range(60)]
rows[5] = 'inf,1.0,0,0.5'
open('d.csv', 'w').write('\n'.join(rows) + '\n')"
printf 'data: {name: tabular-csv, path: %s/d.csv, targets: {label: binary, size: regression}}\n' \
  "$WORK" > t.yaml
printf 'model: {arch: hard-sharing, backbone: {name: mlp, widths: [8]}}\n' >> t.yaml
"${S[@]}" train t.yaml --out csv -q > /dev/null 2> e.txt; row "inf in a CSV feature" $?
[ -e csv/metrics.json ] && echo "    trained to the end on it"

sed 's/arch: hard-sharing, //' c.yaml > p.yaml; echo "search: {space: partition}" >> p.yaml
"${S[@]}" search p.yaml --storage postgresql://alice:s3cret-pw@127.0.0.1:1/db --out s -q \
  > /dev/null 2> e.txt
row "storage URL with a password" $?
grep -q s3cret-pw e.txt && echo "    the password was printed"

# NSGA-II, 10 partitions, killed (SIGKILL) after 3 and after 6 evaluations, then resumed.
cat > n.yaml <<'Y'
data: {name: synthetic-mmoe, train_size: 300, val_size: 64, test_size: 64, dim: 8}
model: {backbone: {name: mlp, widths: [16, 8]}}
train: {epochs: 1, batch_size: 50, threads: 1}
search:
  space: partition
  strategy: nsga2
  partition: {stages: [0, 1]}
  evaluation: {evaluator: distill, distill_steps: 40, distill_batch: 32}
  study: {trials: 10, population: 4, heartbeat: 1}
Y
complete() {
  "$PY" -c "
import sqlite3, sys
try:
    c = sqlite3.connect('$1/search/study.db', timeout=0.2)
    print(c.execute(\"select count(*) from trials where state = 'COMPLETE'\").fetchone()[0])
except Exception:
    print(0)"
}
"${S[@]}" search n.yaml -q --out full > /dev/null 2>&1
for n in 3 6; do
  extra=(); [ -d cut ] && extra=(--resume)
  "${S[@]}" search n.yaml -q --out cut "${extra[@]}" > /dev/null 2>&1 &
  pid=$!
  while [ "$(complete cut)" -lt "$n" ] && kill -0 "$pid" 2> /dev/null; do sleep 0.05; done
  kill -9 "$pid"; wait "$pid" 2> /dev/null
done
sleep 4  # past the grace period of 3 heartbeats (the code before issue 12 needed it)
"${S[@]}" search n.yaml -q --out cut --resume > /dev/null 2> e.txt
row "partition search killed twice" $?
"$PY" - <<'P'
import json
def key(g):
    return json.dumps(g, sort_keys=True)
fronts = {}
for d in ("full", "cut"):
    trials = json.load(open(f"{d}/search/trials.json"))
    done = [key(t["genotype"]) for t in trials if t["state"] == "COMPLETE"]
    front = [key(p["genotype"]) for p in json.load(open(f"{d}/search/front.json"))]
    fronts[d] = sorted(front)
    print(f"    {d}: {len(done)} evaluated, {len(set(done))} distinct; "
          f"front {len(front)} points, {len(set(front))} distinct")
print("    resumed front equals the uninterrupted one:", fronts["full"] == fronts["cut"])
P
