"""The CPU reproduction's compute estimate: how many runs each sweep makes and how many CPU hours they take.

    python -m runners.cpu_plan [--timings 23d5af0] [--overhead 12]
    python -m runners.cpu_plan --spent     # what the committed records took so far, and what is left

Runs are counted from the sweep configs (conf/experiment/cpu/lr_grid, table1, fig2, table5, table4; a run two
sweeps share counts once). Each run's time is estimated from measured one-thread runs of the same method on the same
task (default: issue 9's records, read from git at the given commit): (wall − overhead) / steps x the protocol's
steps + overhead. Methods that issue 9 did not run take their family's time (the SVD family AdaLoRA's, Prune-LoRA and
LoRA_regu LoRA's). The numbers go into conf/experiment/cpu/protocol.yaml's COMPUTE PLAN.

`--spent` holds the plan against the records: per sweep and task, the runs done and the hours they took (each
record's wall time x the CPU share its training had), the selection runs outside the plan, and the hours left at the mean time of the runs done of each task and method
(the estimate above where none is done yet).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from omegaconf import OmegaConf

from runners.records import read_record

CONF = Path(__file__).resolve().parent.parent / "conf" / "experiment" / "cpu"
SWEEPS = ("lr_grid", "table1", "fig2", "table5", "table4")
FAMILY = {"adalora-sensitivity": "adalora", "adalora-magnitude": "adalora", "adalora-gamma0": "adalora",
          "svd-lora": "adalora", "prune-lora": "lora", "lora-regu": "lora"}


def jobs(name: str) -> list[dict]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from hydra_plugins.adalora_sweeper.grid_sweeper import expand

    sweeper = OmegaConf.load(CONF / f"{name}.yaml").hydra.sweeper
    return [dict(item.split("=", 1) for item in job)
            for job in expand(sweeper.params, sweeper.grids, [], OverridesParser.create())]


def timings_from_git(commit: str, root: Path) -> dict[tuple[str, str], float]:
    """(task, method) -> mean seconds per step of the ok records under results/runs/minilm at `commit`."""
    files = subprocess.run(["git", "ls-tree", "-r", "--name-only", commit, "results/runs/minilm"], cwd=root,
                           capture_output=True, text=True, check=True).stdout.split()
    per = defaultdict(list)
    for name in files:
        if not name.endswith(".json"):
            continue
        rec = json.loads(subprocess.run(["git", "show", f"{commit}:{name}"], cwd=root, capture_output=True,
                                        text=True, check=True).stdout)
        if rec.get("status") == "ok" and rec.get("steps"):
            per[(rec["task"], rec["method"])].append((rec["wall_time_s"], rec["steps"]))
    return {k: v for k, v in per.items()}


def plan_key(task: str, method: str, budget, seed, lr) -> tuple:
    """A run's place in the plan: full fine-tuning and BitFit have no budget; a selection run has its rate."""
    return (task, method, None if method in ("full", "bitfit") else str(budget or "83k"), str(seed),
            None if lr is None else float(lr))


def records(root: Path) -> dict[tuple, tuple[float, bool]]:
    """plan_key -> (CPU seconds, whether only wall time was known) of every ok record of the selection grid
    (results/lr-search/lr<rate>/minilm) and of the reported runs (results/runs/minilm). CPU seconds: the run's wall
    time x the CPU share its training had (runners/cost.py); records made before that field count their wall time,
    which overstates the CPU time of a run that shared its core."""
    found = {}
    for base, selection in ((root / "results" / "lr-search", True), (root / "results" / "runs" / "minilm", False)):
        for path in base.rglob("seed*.json"):
            rec = read_record(path)
            if rec is None or rec.get("status") != "ok" or rec.get("model") != "minilm":
                continue
            lr = rec["config"]["trainer"]["learning_rate"] if selection else None
            label = rec["run_key"].split("/")[3]
            share = (rec.get("cost") or {}).get("cpu_share")
            found[plan_key(rec["task"], rec["method"], label, rec["seed"], lr)] = (
                float(rec["wall_time_s"]) * (share if share else 1.0), share is None)
    return found


def spent(planned: dict[tuple, tuple[str, float]], found: dict[tuple, tuple[float, bool]]) -> list[str]:
    """Lines: per sweep and task the runs done, their hours and the hours left; then the grid's extensions."""
    done_times = defaultdict(list)
    for key, (seconds, _) in found.items():
        done_times[key[:2]].append(seconds)
    rows = defaultdict(lambda: [0, 0, 0.0, 0.0])            # planned, done, spent s, left s
    for key, (sweep, estimate) in planned.items():
        row = rows[(sweep, key[0])]
        row[0] += 1
        if key in found:
            row[1] += 1
            row[2] += found[key][0]
        else:
            times = done_times.get(key[:2])
            row[3] += sum(times) / len(times) if times else estimate
    lines = [f"{sweep:<8} {task:<5} {d:>4} of {n:>3} runs done  {s / 3600:5.2f} CPU h spent  {left / 3600:5.2f} CPU h left"
             for (sweep, task), (n, d, s, left) in rows.items()]
    extra = defaultdict(lambda: [0, 0.0])
    for key, (seconds, _) in found.items():
        if key not in planned and key[4] is not None:
            extra[key[0]][0] += 1
            extra[key[0]][1] += seconds
    lines += [f"{'outside':<8} {task:<5} {n:>4} selection runs outside the plan (edge extensions, other grids)  "
              f"{s / 3600:5.2f} CPU h spent"
              for task, (n, s) in sorted(extra.items())]
    total_spent = sum(r[2] for r in rows.values()) + sum(s for _, s in extra.values())
    lines.append(f"total    {sum(r[1] for r in rows.values()) + sum(n for n, _ in extra.values()):>4} runs done  "
                 f"{total_spent / 3600:5.2f} CPU h spent  {sum(r[3] for r in rows.values()) / 3600:5.2f} CPU h left")
    counted = [only for key, (_, only) in found.items() if key in planned or key[4] is not None]
    if any(counted):
        lines.append(f"({sum(counted)} of {len(counted)} records predate the CPU share: their wall time is counted, "
                     f"an upper bound on their CPU time)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runners.cpu_plan", description=__doc__.splitlines()[0])
    parser.add_argument("--timings", default="23d5af0", help="the commit whose results/runs/minilm records give times")
    parser.add_argument("--overhead", type=float, default=12.0, help="seconds per run besides the steps (assumed)")
    parser.add_argument("--spent", action="store_true", help="the records' hours so far and the hours left")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    measured = timings_from_git(args.timings, root)
    protocol = OmegaConf.load(CONF / "protocol.yaml").cpu_tasks
    total, planned = 0.0, {}
    by_sweep = defaultdict(lambda: defaultdict(lambda: [0, 0.0]))
    for sweep in SWEEPS:
        for job in jobs(sweep):
            task, method = job["task"], job["method"]
            budget = job.get("budget")
            key = plan_key(task, method, budget, job.get("seed", "0"), job.get("trainer.learning_rate"))
            if key in planned:
                continue
            runs = measured.get((task, method)) or measured.get((task, FAMILY.get(method, method)))
            if not runs:
                print(f"error: no measured {task} run of {method} or its family at {args.timings}", file=sys.stderr)
                return 2
            per_step = sum((w - args.overhead) / s for w, s in runs) / len(runs)
            seconds = per_step * int(protocol[task].max_steps) + args.overhead
            by_sweep[sweep][task][0] += 1
            by_sweep[sweep][task][1] += seconds
            total += seconds
            planned[key] = (sweep, seconds)
    if args.spent:
        print("\n".join(spent(planned, records(root))))
        return 0
    for sweep, tasks in by_sweep.items():
        for task, (n, sec) in sorted(tasks.items()):
            print(f"{sweep:<8} {task:<5} {n:>4} new runs  {sec / 3600:5.2f} CPU h  "
                  f"({protocol[task].max_steps} steps)")
    print(f"total    {len(planned):>10} runs  {total / 3600:5.2f} CPU h")
    return 0


if __name__ == "__main__":
    sys.exit(main())
