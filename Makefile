# The README's commands. Each one installs what it needs into .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install test try bench

$(BIN)/peerreview: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

install: $(BIN)/peerreview

## install, lint, type-check and run the tests
test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

## install, import Vicuna80 from ../shared/data and rank it with PRE's exam
try: install
	$(BIN)/peerreview import vicuna80 ../shared/data/vicuna80 --out runs/vicuna80/data
	$(BIN)/peerreview rank --judgments runs/vicuna80/data/judgments.jsonl \
		--exam-gold runs/vicuna80/data/gold.jsonl --gold runs/vicuna80/data/gold.jsonl \
		--bootstrap 1000 --out runs/vicuna80/rank

## the benchmark tables of the README
bench: install
	$(BIN)/python benchmarks/agreement.py
	$(BIN)/python benchmarks/speed.py
