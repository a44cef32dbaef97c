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

# ---- issue 31: a hostile folder, a careless path, silent answers; tallied by kind -------------
declare -A TRIED OK
tally() {  # kind, label, exit status, extra condition (0: held); reads e.txt
  local held=1
  [ "$3" = 2 ] && [ "$(grep -c Traceback e.txt)" = 0 ] && [ "$4" = 0 ] && held=0
  TRIED[$1]=$(( ${TRIED[$1]:-0} + 1 )); [ $held = 0 ] && OK[$1]=$(( ${OK[$1]:-0} + 1 ))
  printf '%-10s %-44s | exit %s | %s\n' "$1" "$2" "$3" "$([ $held = 0 ] && echo held || echo BROKE)"
}
unchanged() { [ "$1" = "$(md5sum "${@:2}" 2> /dev/null)" ] && echo 0 || echo 1; }

# code named by a received folder
mkdir -p evil && cp -r r evil/run && echo 'open("EVIL_RAN", "w")' > evilmod.py
sed -i 's/^data:$/data:\n  module: evilmod/' evil/run/config.yaml
"${S[@]}" evaluate evil/run -q > /dev/null 2> e.txt; st=$?
tally code "evaluate: config.yaml names data.module" $st "$([ -e EVIL_RAN ] && echo 1 || echo 0)"
rm -f EVIL_RAN

# files lost or overwritten
cp -r r lk; echo keep > victim.txt; rm -f lk/.lock; ln -s "$WORK/victim.txt" lk/.lock
s=$(md5sum victim.txt); "${S[@]}" train c.yaml --out lk --resume -q > /dev/null 2> e.txt; st=$?
tally files "a run's .lock that is a symlink" $st "$(unchanged "$s" victim.txt)"
s=$(md5sum r/best.pt); "${S[@]}" export r --out r/best.pt -q > /dev/null 2> e.txt; st=$?
tally files "export --out RUN/best.pt" $st "$(unchanged "$s" r/best.pt)"
mkdir -p proj && cp c.yaml proj/config.yaml && echo mine > proj/inputs.json
s=$(md5sum proj/config.yaml proj/inputs.json)
"${S[@]}" train proj/config.yaml --out proj -q > /dev/null 2> e.txt; st=$?
tally files "train proj/config.yaml --out proj" $st "$(unchanged "$s" proj/config.yaml proj/inputs.json)"
root_before=$(ls -A /)
"${S[@]}" train c.yaml --out / -q > /dev/null 2> e.txt; st=$?
tally files "--out /" $st "$([ "$root_before" = "$(ls -A /)" ] && echo 0 || echo 1)"
for name in $(comm -13 <(echo "$root_before") <(ls -A /)); do  # what an older version wrote
  case "$name" in .lock|.sharenas|config.yaml|arch.json|inputs.json|best.pt|checkpoint.pt|history.jsonl|metrics.json) rm -f "/$name";; esac
done
"${S[@]}" train c.yaml --out "$WORK/c.yaml/run" -q > /dev/null 2> e.txt; st=$?
tally files "--out below a file" $st 0
"${S[@]}" train c.yaml --out "$WORK/$(printf 'x%.0s' {1..300})" -q > /dev/null 2> e.txt; st=$?
tally files "--out a name too long" $st 0

# credentials
for url in 'postgresql://alice:PW-s3cret@host:abc/db' 'postgresql://alice@127.0.0.1:1/db?password=PW-s3cret'; do
  "${S[@]}" search p.yaml --storage "$url" --out cred -q > /dev/null 2> e.txt; st=$?
  tally secrets "storage ${url:0:28}…" $st "$(grep -c PW-s3cret e.txt)"
done
"${S[@]}" config show p.yaml --set "search.study.storage=postgresql://alice:PW-s3cret@h/db" \
  > e.txt 2>&1; st=$?; [ $st = 0 ] && st=2  # printing the config is the success here
tally secrets "config show with a storage password" $st "$(grep -c PW-s3cret e.txt)"

# a documented storage form on a new folder
sed 's/trials: 10, population: 4/trials: 2, population: 2/' n.yaml > n2.yaml
"${S[@]}" search n2.yaml --storage "sqlite:///$WORK/new.db" --out fresh -q > /dev/null 2> e.txt
st=$?; [ $st = 0 ] && st=2
tally storage "search --storage sqlite:///new.db, new --out" $st "$([ -e fresh/search/metrics.json ] && echo 0 || echo 1)"

# silent wrong answers
"${S[@]}" train c.yaml --out ep --set train.epochs=true -q > /dev/null 2> e.txt; st=$?
tally silent "--set train.epochs=true" $st 0
printf 'data: {name: synthetic-mmoe}\ndata: {name: synthetic-mmoe, dim: 8, train_size: 64}\n' > dup.yaml
"${S[@]}" train dup.yaml --out dup -q > /dev/null 2> e.txt; st=$?
tally silent "a duplicate data: key" $st 0
"${S[@]}" train c.yaml --out tw --set 'train.task_weights={nope: 2}' --set train.weighting=fixed -q \
  > /dev/null 2> e.txt; st=$?
tally silent "task_weights naming no task" $st 0
sed 's/^x,y,label,size/x,x,label,size/' d.csv > dd.csv; sed "s#d.csv#dd.csv#" t.yaml > dd.yaml
"${S[@]}" train dd.yaml --out dd -q > /dev/null 2> e.txt; st=$?
tally silent "a CSV naming a column twice" $st 0
"$PY" -c "
rows = ['x,y,label,size'] + [f'{i % 7},{i / 3},{i % 2},{i / 7}' for i in range(60)]
open('d2.csv', 'w').write('\\n'.join(rows) + '\\n')"
"${S[@]}" train t.yaml --out csvrun --set "data.path=$WORK/d2.csv" -q > /dev/null 2>&1
"$PY" -c "print('x,y,label,size'); print('1e309,1,0,1')" > big.csv
printf 'x,y,label,size\n' > head.csv
for f in big head; do
  "${S[@]}" predict csvrun "$f.csv" -q > /dev/null 2> e.txt; st=$?
  tally silent "predict: $f.csv" $st 0
done

# tracebacks
"$PY" -c "print('data: ' + '{a: ' * 400 + '1' + '}' * 400)" > deep.yaml
"${S[@]}" train deep.yaml -q > /dev/null 2> e.txt; st=$?; tally traceback "a config nested 400 deep" $st 0
"${S[@]}" train c.yaml --out sd --set seed=9223372036854775808 -q > /dev/null 2> e.txt; st=$?
tally traceback "seed 2^63" $st 0
"${S[@]}" auto c.yaml --budget 1.2.3 --out au -q > /dev/null 2> e.txt; st=$?
tally traceback "--budget 1.2.3" $st 0
cp -r r dm; echo '{"dataset": ' > dm/metrics.json
"${S[@]}" report dm --out rep -q > /dev/null 2> e.txt; st=$?; tally traceback "report: damaged metrics.json" $st 0
"${S[@]}" train c.yaml --out b1 --set train.batch_size=1 -q > /dev/null 2> e.txt; st=$?
tally traceback "batch_size 1 under batch norm" $st 0
"${S[@]}" train c.yaml --out wd --set train.weight_decay=.inf -q > /dev/null 2> e.txt; st=$?
tally message "inf in train.weight_decay" $st "$(grep -c 'loss is nan' e.txt)"

"${S[@]}" train c.yaml --out ti --set 'train.task_weights={task1: .inf}' -q > /dev/null 2> e.txt; st=$?
tally message "inf in train.task_weights" $st "$(grep -c 'loss is nan' e.txt)"
"${S[@]}" train c.yaml --out w9 --set 'model.backbone.widths=[1000000000]' -q > /dev/null 2> e.txt
st=$?; tally traceback "widths of 1e9" $st 0
"${S[@]}" train c.yaml --out d8 --set data.dim=100000000 -q > /dev/null 2> e.txt; st=$?
tally traceback "a dataset dimension of 1e8" $st 0
"${S[@]}" train c.yaml --out rf --reference csvrun -q > /dev/null 2> e.txt; st=$?
tally traceback "--reference of another task set" $st "$([ -e rf/best.pt ] && echo 1 || echo 0)"
mkdir -p own && echo mine > own/notes.txt
"${S[@]}" train c.yaml --seeds 0 --out own -q > /dev/null 2> e.txt; st=$?
tally files "train --seeds into a foreign folder" $st "$([ "$(ls own)" = notes.txt ] && echo 0 || echo 1)"

echo
printf '%-10s | %s | %s\n' kind tried held
for k in code files secrets storage silent traceback message; do
  printf '%-10s | %5s | %4s\n' "$k" "${TRIED[$k]:-0}" "${OK[$k]:-0}"
done
