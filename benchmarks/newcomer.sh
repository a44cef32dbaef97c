#!/usr/bin/env bash
# The newcomer's path, timed: the wheel built from this checkout and installed with its
# dependencies into a fresh virtual environment, then, from an empty folder with an empty home and
# data cache, the README's first command (a fusion search on MultiMNIST, at the budget of
# `make demo`) and the export of the searched model. Prints one line per step with its seconds.
#
#   bash benchmarks/newcomer.sh            # torch from $TORCH_SPEC (default torch==2.13.0)
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
BUDGET=(--set data.limit=6000 --set train.epochs=3 --set train.batch_size=64
  --set "model.backbone.channels=[8,16,32]" --set search.gradient.arch_lr=0.03)

step() {  # step NAME COMMAND...: run it, print its wall seconds
  local name="$1" start end
  shift
  start=$(date +%s.%N)
  local log="$WORK/${name//[^A-Za-z0-9]/_}.log"
  "$@" >"$log" 2>&1 || { tail -20 "$log"; exit 1; }
  end=$(date +%s.%N)
  printf '%-34s %8.1f s\n' "$name" "$(echo "$end - $start" | bc)"
}

cp -r "$REPO/src" "$REPO/pyproject.toml" "$REPO/README.md" "$REPO/LICENSE" "$WORK/"
mkdir "$WORK/dist" "$WORK/empty" "$WORK/home"
step "build the wheel" python3 -m pip wheel --no-deps --quiet -w "$WORK/dist" "$WORK"
step "fresh venv" python3 -m venv "$WORK/venv"
step "install torch ($TORCH_SPEC)" "$WORK/venv/bin/pip" install --quiet "$TORCH_SPEC"
WHEEL="$(ls "$WORK"/dist/sharenas-*.whl)"
step "install the wheel[onnx] and deps" "$WORK/venv/bin/pip" install --quiet \
  "$WHEEL[onnx]" "$TORCH_SPEC"
cd "$WORK/empty"
export HOME="$WORK/home" SHARENAS_DATA="$WORK/home/data"
step "sharenas configs list" "$WORK/venv/bin/sharenas" configs list
step "search multimnist-fusion" "$WORK/venv/bin/sharenas" search multimnist-fusion \
  --out runs/mm-fusion "${BUDGET[@]}"
step "export runs/mm-fusion" "$WORK/venv/bin/sharenas" export runs/mm-fusion
test -f runs/mm-fusion/search/model.onnx && echo "exported: runs/mm-fusion/search/model.onnx"
