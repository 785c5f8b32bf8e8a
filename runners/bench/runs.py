"""`python -m runners.bench.runs` (`make bench-runs`): what AdaLoRA costs in the runs people make, end to end.

The CPU reproduction's real cells, each a real `run.py` run in a fresh process with one thread: MiniLM on SST-2
(by default) or CoLA at the protocol's length, batch and data (conf/experiment/cpu/protocol.yaml: SST-2 320 steps,
CoLA 3200, so a CoLA repetition takes about 45 minutes), LoRA and our AdaLoRA at the 83k budget, and PEFT's AdaLoRA
driven the same way: the same run.py, Trainer, data, schedule and evaluation, with `adalora.attach` answered by PEFT
(`get_peft_model` with the spec's ranks, alpha, schedule, betas and regulariser weight on the same modules, its
schedule resolved against the run's real length; a handle whose step is PEFT's `update_and_allocate`; PEFT's forward
adds its own regulariser). Repetitions are interleaved (every variant once per repetition, the order rotating), >= 5.

Each run's cost comes from runners/cost.py's CostMeter attached to the run's Trainer: the median optimizer step and
the training time (loading and evaluation apart); beside them the process's whole wall time. Ratios per task get a
bootstrap 95% interval over repetitions (runners/bench/stats.py); the target "AdaLoRA / LoRA training time <= 1.05"
is met only when the interval's upper end is under it. A busy machine is refused at the start (--allow-load) and a
loaded run is flagged as no verdict.

    python -m runners.bench.runs [--tasks sst2[,cola]] [--reps 5] [--quick]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import stats
from .machine import provenance
from .report import write_atomic, write_json

REPO = Path(__file__).resolve().parents[2]
VARIANTS = ("lora", "adalora", "peft_adalora")
# The rate a cell trains with: the family centres of the selection grid (conf/experiment/cpu/lr_grid.yaml). The rate
# does not change the cost, and it stays fixed while the chosen rates (conf/experiment/cpu/chosen_lr.yaml) move.
RATES = {"lora": 1.6e-3, "adalora": 6.4e-3, "peft_adalora": 6.4e-3}
PROTOCOL = REPO / "conf" / "experiment" / "cpu" / "protocol.yaml"


def protocol_steps() -> dict[str, int]:
    """task -> the CPU protocol's run length (its cpu_tasks table), the length every timed cell runs."""
    from omegaconf import OmegaConf

    return {task: int(cfg.max_steps) for task, cfg in OmegaConf.load(PROTOCOL).cpu_tasks.items()}
TARGET = (1.05, 1.05)   # AdaLoRA / LoRA training time, real cells (issue 13)
# Compared between variants: the record's cost (runners/cost.py; the CPU time only in records that carry it, and it
# is the figure least moved by other processes) and the child process's wall time.
COST_KEYS = ("step_time_median_s", "train_time_s", "train_cpu_s")
KEYS = (*COST_KEYS, "process_wall_s")


def run_args(task: str, variant: str, budget: str, folder: Path, quick: bool) -> list[str]:
    method = "lora" if variant == "lora" else "adalora"
    common = [f"task={task}", f"method={method}", f"trainer.learning_rate={RATES[variant]}", "seed=1",
              f"results_dir={folder}/runs", f"outputs_dir={folder}/out", "force=true", "resume=false"]
    if not quick:
        return ["+experiment=cpu/protocol", f"budget={budget}", *common]
    # the machinery on tiny-bert in seconds (sizes as the behaviour fingerprint sets them)
    sizes = ["method.rank=2"] if method == "lora" else ["method.init_rank=4", "method.target_rank=2",
                                                         "method.t_init=2", "method.t_final=3", "method.delta_t=1"]
    return [*common, "model=tiny-bert", f"task.data_dir=data/glue/{task}", "task.max_train_samples=64",
            "task.max_eval_samples=16", "trainer.max_steps=8", "trainer.per_device_train_batch_size=8",
            "trainer.save_strategy=no", "trainer.disable_tqdm=true", *sizes]


# --- the child: one real run.py run with a CostMeter (and, for PEFT's AdaLoRA, PEFT behind adalora.attach) --------
def _peft_attach(total_steps: int):
    """An `adalora.attach` that answers an AdaLoRA spec with PEFT's AdaLoRA on the modules ours would adapt."""
    import copy

    import peft
    import torch

    import adalora
    from adalora.backbone import head_prefixes
    from adalora.schedule import resolve_steps

    ours = adalora.attach
    state: dict = {}

    class PeftHandle(adalora.Handle):
        method = "adalora"

        def __init__(self, model, peft_model, spec) -> None:
            super().__init__(model, spec)
            self.peft_model = peft_model

        def set_total_steps(self, total: int) -> None:
            """The run's real length reaches PEFT's schedule as it reaches ours: t_init and t_final are shares
            of the run, resolved against it (PEFT's RankAllocator reads them from this config at every step)."""
            super().set_total_steps(total)
            config = self.peft_model.peft_config["default"]
            config.total_step = int(total)
            config.tinit = resolve_steps(self.spec.t_init, int(total), "t_init")
            config.tfinal = resolve_steps(self.spec.t_final, int(total), "t_final")

        def step(self, step: int) -> None:
            self.peft_model.base_model.update_and_allocate(step)

        def adapter_parameters(self):
            return [p for n, p in self.model.named_parameters() if "lora_" in n]

    def attach(model, spec):
        if not isinstance(spec, adalora.AdaLoRA):
            return ours(model, spec)
        probe = copy.deepcopy(model)
        names = list(ours(probe, spec).layers)
        del probe
        heads = [p for p in head_prefixes(model) if any(True for _ in getattr(model, p).parameters())]
        config = peft.AdaLoraConfig(
            init_r=spec.init_rank, target_r=spec.target_rank, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
            target_modules=names, tinit=resolve_steps(spec.t_init, total_steps, "t_init"),
            tfinal=resolve_steps(spec.t_final, total_steps, "t_final"), deltaT=spec.delta_t, beta1=spec.beta1,
            beta2=spec.beta2, orth_reg_weight=spec.orth_reg_weight, total_step=total_steps,
            modules_to_save=heads, task_type="SEQ_CLS")
        peft_model = peft.get_peft_model(model, config)   # injects into `model` itself
        state["model"] = peft_model
        return PeftHandle(model, peft_model, spec)

    del torch
    return attach, state


def child(variant: str, total_steps: int, out: Path, args: list[str]) -> int:
    import transformers

    import adalora
    from runners.cost import CostMeter

    meter = CostMeter()
    peft_state: dict = {}
    if variant == "peft_adalora":
        attach, peft_state = _peft_attach(total_steps)
        adalora.attach = attach
    original = transformers.Trainer.__init__

    def init(self, *a, **kw):
        if peft_state.get("model") is not None and "model" in kw:   # the Trainer trains PEFT's wrapper
            kw["model"] = peft_state["model"]
        original(self, *a, **kw)
        self.add_callback(meter)

    transformers.Trainer.__init__ = init
    from runners.cli import main

    sys.argv = ["run.py", *args]
    started = time.perf_counter()
    code = 0
    try:
        main()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    result = {"variant": variant, "exit_code": code, "cost": meter.summary(),
              "process_after_imports_s": time.perf_counter() - started}
    out.write_text(json.dumps(result))
    return code


# --- the parent: interleaved repetitions, ratios with intervals -----------------------------------------------------
def one_run(task: str, variant: str, budget: str, quick: bool, progress) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-runs-") as tmp:
        folder = Path(tmp)
        out = folder / "cost.json"
        steps = 8 if quick else protocol_steps()[task]
        cmd = [sys.executable, "-m", "runners.bench.runs", "--child", variant, "--total-steps", str(steps),
               "--child-out", str(out), "--", *run_args(task, variant, budget, folder, quick)]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false", "WANDB_MODE": "disabled"}
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not out.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            progress(f"  {task} {variant}: FAILED ({proc.returncode}): {' | '.join(tail)}")
            return {"variant": variant, "failed": True, "exit_code": proc.returncode, "stderr_tail": tail,
                    "load_1min": load}
        result = json.loads(out.read_text())
        records = list((folder / "runs").rglob("seed*.json"))
        record = json.loads(records[0].read_text()) if records else {}
        result.update(process_wall_s=wall, record_wall_time_s=record.get("wall_time_s"),
                      metrics=record.get("metrics"), steps=record.get("steps"), load_1min=load)
        c = result["cost"]
        progress(f"  {task} {variant}: step {c['step_time_median_s'] * 1e3:.1f} ms, train {c['train_time_s']:.1f} s, "
                 f"process {wall:.1f} s (load {load:.1f})")
        return result


def bench_runs(tasks: list[str], reps: int, budget: str, quick: bool, progress=print) -> dict:
    started = dt.datetime.now(dt.timezone.utc)
    cores = os.cpu_count() or 1
    runs: dict[str, dict[str, list[dict]]] = {t: {v: [] for v in VARIANTS} for t in tasks}
    for rep in range(reps):
        for task in tasks:
            order = [VARIANTS[(rep + k) % len(VARIANTS)] for k in range(len(VARIANTS))]
            progress(f"repetition {rep + 1}/{reps}, {task}: {', '.join(order)}")
            for variant in order:
                runs[task][variant].append(one_run(task, variant, budget, quick, progress))
    loads = [r["load_1min"] for t in runs.values() for v in t.values() for r in v]
    load = stats.load_verdict(loads, cores)
    per_task = {}
    for task, by_variant in runs.items():
        def column(variant: str, key: str) -> list[float | None]:
            out = []
            for r in by_variant[variant]:
                if r.get("failed"):
                    out.append(None)
                elif key in COST_KEYS:
                    out.append(r["cost"].get(key))
                else:
                    out.append(r[key])
            return out

        comparisons = {}
        for a, b in (("adalora", "lora"), ("adalora", "peft_adalora"), ("peft_adalora", "lora")):
            for key in KEYS:
                xs, ys = column(a, key), column(b, key)
                pairs = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
                comparisons[f"{a}_vs_{b}:{key}"] = stats.paired_ratio([p[0] for p in pairs], [p[1] for p in pairs])
        medians = {v: {key: (statistics.median([x for x in column(v, key) if x is not None])
                             if any(x is not None for x in column(v, key)) else None)
                       for key in KEYS} for v in VARIANTS}
        per_task[task] = {"steps": 8 if quick else protocol_steps()[task], "medians": medians, "comparisons": comparisons,
                          "runs": by_variant}
    worst_task, worst = None, None
    for task, t in per_task.items():
        c = t["comparisons"].get("adalora_vs_lora:train_time_s")
        if c and (worst is None or (c.get("ci_high") or c["ratio"]) > (worst.get("ci_high") or worst["ratio"])):
            worst_task, worst = task, c
    target = {**stats.verdict(worst, *TARGET), "task": worst_task,
              "statistic": "ratio of median training times (CostMeter: loading and evaluation apart), bootstrap 95% "
                           "interval over interleaved repetitions; the task whose interval reaches highest"}
    heavy = load["heavy"]
    if heavy and target["met"]:
        target["met"], target["why"] = False, "measured under heavy load: no verdict (" + target["why"] + ")"
    return {
        "schema": 1, "created": started.isoformat(timespec="seconds"),
        "wall_time_s": round((dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 1),
        "quick": quick, "budget": budget, "reps": reps, "tasks": tasks, "threads_per_run": 1,
        "load": {"during": load, "heavy": heavy}, "verdict_valid": not heavy and not quick,
        "target_adalora_vs_lora_train_time": target, **provenance(), "tasks_detail": per_task,
    }


def render(record: dict) -> str:
    t = record["target_adalora_vs_lora_train_time"]
    during = record["load"]["during"]
    lines = ["# End-to-end benchmark: real CPU-protocol runs", "",
             f"Generated by `make bench-runs` on {record['created']} in {record['wall_time_s']:.0f} s: every cell a "
             f"real `run.py` run in a fresh process with one thread, {record['reps']} interleaved repetitions, "
             f"budget {record['budget']}. Do not edit: rerun it. Raw numbers: `results/bench/runs.json`.", ""]
    if record["quick"]:
        lines += ["> Quick mode (tiny-bert, 8 steps): checks the machinery, not a verdict.", ""]
    if record["load"]["heavy"]:
        lines += [f"> **NOT A VERDICT: heavy load during the runs** (median 1-minute load {during['median']:.1f} on "
                  f"{during['cores']} cores).", ""]
    ci = t.get("ci") or [None, None]
    shown_ci = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci[0] is not None else "–"
    value = "–" if t["value"] is None else f"{t['value']:.3f}"
    lines += ["| Target | Measured | 95% CI | Goal | Met | Why |", "|---|---|---|---|---|---|",
              f"| AdaLoRA / LoRA training time, real cells ({t.get('task') or '-'}) | {value} | {shown_ci} | ≤ "
              f"{t['goal']:.2f} | {'yes' if t['met'] else '**no**'} | {t['why']} |", ""]
    for task, d in record["tasks_detail"].items():
        lines += [f"## {task} ({d['steps']} steps)", "",
                  "| Variant | Median step (ms) | Training time (s) | Training CPU time (s) | Whole process (s) |",
                  "|---|---:|---:|---:|---:|"]
        for v, m in d["medians"].items():
            f = (lambda x, k=1e3: "–" if x is None else f"{x * k:.1f}")
            lines.append(f"| {v} | {f(m['step_time_median_s'])} | {f(m['train_time_s'], 1)} | "
                         f"{f(m.get('train_cpu_s'), 1)} | {f(m['process_wall_s'], 1)} |")
        lines += ["", "| Ratio | Point | 95% CI |", "|---|---:|---:|"]
        for key, c in d["comparisons"].items():
            if not c:
                continue
            ci = f"[{c['ci_low']:.3f}, {c['ci_high']:.3f}]" if c.get("ci_high") is not None else "–"
            lines.append(f"| {key.replace('_vs_', ' / ').replace(':', ', ')} | {c['ratio']:.3f} | {ci} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        p = argparse.ArgumentParser()
        p.add_argument("--child")
        p.add_argument("--total-steps", type=int)
        p.add_argument("--child-out")
        known, rest = p.parse_known_args(argv)
        rest = rest[1:] if rest[:1] == ["--"] else rest
        return child(known.child, known.total_steps, Path(known.child_out), rest)
    parser = argparse.ArgumentParser(prog="python -m runners.bench.runs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="sst2", help="sst2 (default), cola (3200 steps: ~45 min a repetition)")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions (default 5)")
    parser.add_argument("--budget", default="83k")
    parser.add_argument("--quick", action="store_true", help="tiny-bert, 8 steps, 2 repetitions: the machinery")
    parser.add_argument("--allow-load", action="store_true", help="run on a busy machine (flagged, no verdict)")
    parser.add_argument("--out", default="results/bench/runs.json")
    parser.add_argument("--table", default="results/tables/bench_runs.md")
    args = parser.parse_args(argv)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if any(t not in protocol_steps() for t in tasks) or args.reps < 1:
        print(f"error: --tasks takes some of {', '.join(protocol_steps())} and --reps a positive number", file=sys.stderr)
        return 2
    cores = os.cpu_count() or 1
    if not args.quick and not args.allow_load and os.getloadavg()[0] >= cores:
        print(f"error: the machine is busy (1-minute load {os.getloadavg()[0]:.1f} on {cores} cores): its timings "
              f"would not be a verdict; wait for a quiet machine or pass --allow-load", file=sys.stderr)
        return 3
    reps = 2 if args.quick and args.reps == 5 else args.reps
    record = bench_runs(tasks, reps, args.budget, args.quick, progress=lambda s: print(s, flush=True))
    write_json(record, Path(args.out))
    text = render(record)
    write_atomic(Path(args.table), text)
    print()
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
