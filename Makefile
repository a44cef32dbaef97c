# The two commands of the README's Quickstart. Each sets itself up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The vision extra (timm, torchvision) needs a torchvision built for its torch; this machine's
# CPU torch has none, so its tests run in an environment of their own with a matching pair.
VISION_VENV ?= .venv-vision
VISION_TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
VISION_BIN := $(VISION_VENV)/bin
VISION_STAMP := $(VISION_VENV)/.installed

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Torch is installed first and pinned, so that pip never pulls the CUDA wheels on a CPU machine.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev,onnx,postgres,docs]" "$(TORCH_SPEC)"
	touch $(STAMP)

$(VISION_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VISION_VENV)
	$(VISION_BIN)/python -m pip install --quiet --upgrade pip
	$(VISION_BIN)/python -m pip install --quiet $(VISION_TORCH_SPEC)
	$(VISION_BIN)/python -m pip install --quiet -e ".[dev,onnx,vision]" $(VISION_TORCH_SPEC)
	touch $(VISION_STAMP)

# The main job: a MultiMNIST fusion search (MTL-NAS) with a quick budget, then the same budget for
# the hand-designed baselines, a comparison table and the architecture diagram (a few minutes).
DEMO_BUDGET := --set data.limit=6000 --set train.epochs=3 --set train.batch_size=64 \
	--set "model.backbone.channels=[8,16,32]" --set search.gradient.arch_lr=0.03

demo: $(STAMP)
	rm -rf runs/demo  # a fresh demo each time (a kept search folder would ask for --resume)
	$(BIN)/sharenas search configs/multimnist-fusion.yaml --out runs/demo $(DEMO_BUDGET)

test: $(STAMP) $(VISION_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n 2
	SHARENAS_REQUIRE_VISION=1 $(VISION_BIN)/python -m pytest -n 2 tests/test_pretrained_backbones.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site  # a broken link fails

bench: $(STAMP)
	$(BIN)/python benchmarks/data_loading.py

clean:
	rm -rf $(VENV) $(VISION_VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache
