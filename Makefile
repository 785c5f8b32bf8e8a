# The AdaLoRA reproduction suite. `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install test test-slow demo tables bench paper plan cpu-repro cpu-grid cpu-seeds clean cluster-up cluster-down cluster-status

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-10s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv with the suite and its test dependencies (pinned by constraints.txt; idempotent)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed: run make PYTHON=python3.11 ...")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt torch
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	touch $(STAMP)

test: $(STAMP) ## fast test suite (what CI runs)
	$(PY) -m pytest -q -m "not slow"

test-slow: $(STAMP) ## the whole suite, including real-data training and multi-process runs
	$(PY) -m pytest -q

demo: $(STAMP) ## offline quickstart: AdaLoRA on SST-2 with the packaged MiniLM (a few minutes on 2 CPU cores)
	HF_HUB_OFFLINE=1 $(PY) run.py +experiment=demo

tables: $(STAMP) ## rebuild results/tables/ (the paper's tables and figures, ours beside the paper's) from results/runs/
	$(PY) -m runners.tables

BENCH_ARGS ?=
bench: $(STAMP) ## step time and memory of LoRA, AdaLoRA (ours, PEFT's), full FT -> results/bench/latest.json, results/tables/bench.md [BENCH_ARGS="--quick"|"--repeats 30"]
	HF_HUB_OFFLINE=1 $(PY) -m runners.bench $(BENCH_ARGS)

EXP      ?= table1
LAUNCHER ?=
paper: $(STAMP) ## a paper table or figure: make paper EXP=table1..table5|fig2 [LAUNCHER=local|slurm] [ARGS="hparams=paper"]
	$(PY) run.py +experiment=paper/$(EXP) $(if $(LAUNCHER),hydra/launcher=$(LAUNCHER)) $(ARGS)

plan: $(STAMP) ## what `make paper EXP=...` would run and what is already done; runs nothing
	$(PY) run.py +experiment=paper/$(EXP) hydra.sweeper.dry_run=true $(ARGS)

# The CPU reproduction (results/README.md): MiniLM on CoLA, SST-2, RTE, one thread per run. Each sweep runs twice
# at once (one per core): every run claims its cell first, so each cell is trained once (README, "When a run dies").
# Resumable: rerun the target after an interruption and finished runs are skipped.
CPU_RUN := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 $(PY) run.py
comma := ,
CPU_TWICE = $(CPU_RUN) $(1) & pid=$$!; $(CPU_RUN) $(1); b=$$?; wait $$pid && test $$b = 0
cpu-repro: cpu-seeds tables ## the CPU reproduction: LR grid on SST-2, 3 seeds of every cell, tables (~1.5 h on 2 cores)

cpu-grid: $(STAMP) ## step 1: the learning-rate grid (48 runs) -> results/lr-search/, conf/experiment/cpu/chosen_lr.yaml
	$(call CPU_TWICE,+experiment=cpu/lr_grid)
	$(PY) -m runners.lr_search

cpu-seeds: cpu-grid ## step 2: every cell at its chosen rate, seeds 1-3, SST-2 also 4-5 (88 runs) -> results/runs/minilm/
	$(call CPU_TWICE,+experiment=cpu/seeds)
	$(call CPU_TWICE,+experiment=cpu/seeds task=sst2 seed=4$(comma)5)

cluster-up: ## a single-node SLURM test cluster on this machine (installs slurm + munge + mariadb; root; idempotent)
	tests/cluster/slurm.sh up

cluster-down: ## stop what cluster-up started
	tests/cluster/slurm.sh down

cluster-status: ## is the test cluster up?
	tests/cluster/slurm.sh status

clean: ## remove outputs of local runs (keeps .venv and results/)
	rm -rf outputs multirun .pytest_cache
