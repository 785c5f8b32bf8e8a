# The AdaLoRA reproduction suite. `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install test test-slow demo tables bench bench-runs bench-gpu paper plan cpu-repro cpu-select cpu-sweeps cpu-beyond cpu-plan clean cluster-up cluster-down cluster-status

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

tables: $(STAMP) ## rebuild results/tables/ (the paper's tables and figures, ours beside the paper's) and the claim table of results/README.md from results/runs/
	$(PY) -m runners.tables
	$(PY) -m runners.tables.findings

BENCH_ARGS ?=
bench: $(STAMP) ## step time and memory: LoRA, AdaLoRA (ours, PEFT's), full FT; 30 interleaved rounds, 95% CIs (refuses a busy machine) -> results/bench/latest.json, results/tables/bench.md [BENCH_ARGS="--quick"|"--allow-load"]
	HF_HUB_OFFLINE=1 $(PY) -m runners.bench $(BENCH_ARGS)

bench-runs: $(STAMP) ## real CPU-protocol runs end to end (MiniLM SST-2; LoRA, ours, PEFT's AdaLoRA; 5 interleaved reps, one thread) -> results/bench/runs.json, results/tables/bench_runs.md [BENCH_ARGS="--quick" or "--tasks sst2,cola": +45 min a rep]
	HF_HUB_OFFLINE=1 $(PY) -m runners.bench.runs $(BENCH_ARGS)

# One H200 (or any CUDA GPU), under 8 minutes: DeBERTa-v3-base shape at the paper's batch 32 x 128, fp32 then bf16.
GPU_BENCH := --device cuda --models deberta-v3-base-shape --batch deberta-v3-base-shape=32x128 --scaling-layers 12,48 --repeats 30 --warmup 3
bench-gpu: $(STAMP) ## the GPU benchmark (DeBERTa-v3-base shape, 32 x 128, fp32 and bf16, with CIs) -> results/bench/gpu-{fp32,bf16}.json
	HF_HUB_OFFLINE=1 $(PY) -m runners.bench $(GPU_BENCH) --dtype fp32 --out results/bench/gpu-fp32.json --table results/tables/bench_gpu_fp32.md
	HF_HUB_OFFLINE=1 $(PY) -m runners.bench $(GPU_BENCH) --dtype bf16 --no-memory --out results/bench/gpu-bf16.json --table results/tables/bench_gpu_bf16.md

EXP      ?= table1
LAUNCHER ?=
paper: $(STAMP) ## a paper table or figure: make paper EXP=table1..table5|fig2 [LAUNCHER=local|slurm] [ARGS="hparams=paper"]
	$(PY) run.py +experiment=paper/$(EXP) $(if $(LAUNCHER),hydra/launcher=$(LAUNCHER)) $(ARGS)

plan: $(STAMP) ## what `make paper EXP=...` would run and what is already done; runs nothing
	$(PY) run.py +experiment=paper/$(EXP) hydra.sweeper.dry_run=true $(ARGS)

# The CPU reproduction (results/README.md, issue 14): MiniLM on SST-2 and CoLA, one sweep process with one thread.
# Task by task: the selection grid (seed 0) and its choice, then the reported sweeps (seeds 1-5) at the chosen rates.
# Resumable: rerun a target after an interruption and finished runs are skipped. A second copy of the same target
# started beside it shares the work (each run claims its cell; README, "When a run dies").
CPU_RUN := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 $(PY) run.py
# CoLA and RTE are dropped for compute (conf/experiment/cpu/protocol.yaml); CPU_TASKS="sst2 cola" or TASK=cola runs CoLA
CPU_TASKS ?= sst2
TASK ?=
cpu-repro: $(STAMP) ## the whole CPU reproduction (conf/experiment/cpu/protocol.yaml: ~5 CPU hours for SST-2), then the tables
	for t in $(CPU_TASKS); do $(MAKE) cpu-select TASK=$$t && $(MAKE) cpu-sweeps TASK=$$t || exit 1; done
	$(MAKE) tables

cpu-select: $(STAMP) ## selection: the learning-rate grid at seed 0, extended past any edge choice -> results/lr-search/, conf/experiment/cpu/chosen_lr.yaml [TASK=sst2]
	$(CPU_RUN) +experiment=cpu/lr_grid $(if $(TASK),task=$(TASK))
	$(PY) -m runners.lr_search --extend
	for i in 1 2 3; do test -f conf/experiment/cpu/lr_extend.yaml || break; \
	  $(CPU_RUN) +experiment=cpu/lr_extend && $(PY) -m runners.lr_search --extend || exit 1; done

cpu-sweeps: $(STAMP) ## the reported runs, seeds 1-5: Table 1, Fig. 2, Table 5, Table 4 at CPU scale -> results/runs/minilm/ [TASK=sst2]
	$(CPU_RUN) +experiment=cpu/table1 $(if $(TASK),task=$(TASK))
	$(CPU_RUN) +experiment=cpu/fig2 $(if $(TASK),task=$(TASK))
	$(CPU_RUN) +experiment=cpu/table5 $(if $(TASK),task=$(TASK))
	$(CPU_RUN) +experiment=cpu/table4 $(if $(TASK),task=$(TASK))

cpu-beyond: $(STAMP) ## issues 17 and 18, after cpu-sweeps: selection of the new options and methods (cpu/lr_grid_beyond), then cpu/beyond and cpu/successors, seeds 1-5 [TASK=sst2]
	$(CPU_RUN) +experiment=cpu/lr_grid_beyond $(if $(TASK),task=$(TASK))
	$(PY) -m runners.lr_search --extend --grid conf/experiment/cpu/lr_grid_beyond.yaml
	for i in 1 2 3; do test -f conf/experiment/cpu/lr_extend.yaml || break; \
	  $(CPU_RUN) +experiment=cpu/lr_extend && $(PY) -m runners.lr_search --extend --grid conf/experiment/cpu/lr_grid_beyond.yaml || exit 1; done
	$(CPU_RUN) +experiment=cpu/beyond $(if $(TASK),task=$(TASK))
	$(CPU_RUN) +experiment=cpu/successors $(if $(TASK),task=$(TASK))

cpu-plan: $(STAMP) ## the CPU reproduction's compute estimate per sweep and task, then the hours its records took so far and the hours left (runs nothing)
	$(PY) -m runners.cpu_plan
	@echo; echo "spent so far (python -m runners.cpu_plan --spent):"
	$(PY) -m runners.cpu_plan --spent

cluster-up: ## a single-node SLURM test cluster on this machine (installs slurm + munge + mariadb; root; idempotent)
	tests/cluster/slurm.sh up

cluster-down: ## stop what cluster-up started
	tests/cluster/slurm.sh down

cluster-status: ## is the test cluster up?
	tests/cluster/slurm.sh status

clean: ## remove outputs of local runs (keeps .venv and results/)
	rm -rf outputs multirun .pytest_cache
