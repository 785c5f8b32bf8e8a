"""The CPU reproduction's compute estimate: how many runs each sweep makes and how many CPU hours they take.

    python -m runners.cpu_plan [--timings 23d5af0] [--overhead 12]

Runs are counted from the sweep configs (conf/experiment/cpu/lr_grid, table1, fig2, table5, table4; a run two
sweeps share counts once). Each run's time is estimated from measured one-thread runs of the same method on the same
task (default: issue 9's records, read from git at the given commit): (wall − overhead) / steps x the protocol's
steps + overhead. Methods that issue 9 did not run take their family's time (the SVD family AdaLoRA's, Prune-LoRA and
LoRA_regu LoRA's). The numbers go into conf/experiment/cpu/protocol.yaml's COMPUTE PLAN.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from omegaconf import OmegaConf

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runners.cpu_plan", description=__doc__.splitlines()[0])
    parser.add_argument("--timings", default="23d5af0", help="the commit whose results/runs/minilm records give times")
    parser.add_argument("--overhead", type=float, default=12.0, help="seconds per run besides the steps (assumed)")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    measured = timings_from_git(args.timings, root)
    protocol = OmegaConf.load(CONF / "protocol.yaml").cpu_tasks
    seen, total = set(), 0.0
    by_sweep = defaultdict(lambda: defaultdict(lambda: [0, 0.0]))
    for sweep in SWEEPS:
        for job in jobs(sweep):
            task, method = job["task"], job["method"]
            budget = None if method in ("full", "bitfit") else job.get("budget", "83k")
            key = (task, method, budget, job.get("seed", "0"), job.get("trainer.learning_rate"))
            if key in seen:
                continue
            seen.add(key)
            runs = measured.get((task, method)) or measured.get((task, FAMILY.get(method, method)))
            if not runs:
                print(f"error: no measured {task} run of {method} or its family at {args.timings}", file=sys.stderr)
                return 2
            per_step = sum((w - args.overhead) / s for w, s in runs) / len(runs)
            seconds = per_step * int(protocol[task].max_steps) + args.overhead
            by_sweep[sweep][task][0] += 1
            by_sweep[sweep][task][1] += seconds
            total += seconds
    for sweep, tasks in by_sweep.items():
        for task, (n, sec) in sorted(tasks.items()):
            print(f"{sweep:<8} {task:<5} {n:>4} new runs  {sec / 3600:5.2f} CPU h  "
                  f"({protocol[task].max_steps} steps)")
    print(f"total    {len(seen):>10} runs  {total / 3600:5.2f} CPU h")
    return 0


if __name__ == "__main__":
    sys.exit(main())
