"""Selection step of the CPU reproduction: the learning rate each method keeps on each task, from the grid's records.

    python -m runners.lr_search            # reads results/lr-search/, writes conf/experiment/cpu/chosen_lr.yaml
                                           # and results/lr-search/README.md (every grid, the choice marked)

The grid (conf/experiment/cpu/lr_grid.yaml) runs every method on every task at the selection seed (0, not one of the
reported seeds 1-5) over the same rule of rates: three rates x2 apart up to the method family's centre. Per task and
method the rate with the best dev score of the task's main metric is kept; a tie goes to the smaller rate; a failed
run (e.g. diverged to NaN) is never chosen. A (task, method) whose grid is not complete yet gets no rate (the sweeps
that need it then stop at composition with the missing key), so a partial grid never decides. A choice no better
than the majority class is flagged in the README and in the YAML's comment.

A choice at the grid's edge is not final: the grid extends it by the next rate beyond that edge (x2 up or /2 down),
the same rule for every method, at most EXTEND_MAX rates beyond the planned three. `--extend` writes those runs as a
sweep, conf/experiment/cpu/lr_extend.yaml (removed when nothing is left to extend); `make cpu-select` runs it and
chooses again until every choice is inside its grid or at the cap. Until then the cell has no rate.

The chosen rates land in `cpu_tasks.<task>.lr.<method>`, which conf/experiment/cpu/protocol.yaml reads into
trainer.learning_rate: every table sweep (cpu/table1, table4, table5, fig2) trains each method at its task's rate.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from runners.errors import ConfigError

GRID_SWEEP = "python run.py +experiment=cpu/lr_grid"
GRID_CONFIG = Path(__file__).resolve().parent.parent / "conf" / "experiment" / "cpu" / "lr_grid.yaml"
EXTEND_CONFIG = GRID_CONFIG.with_name("lr_extend.yaml")
EXTEND_MAX = 3                  # rates a cell may get beyond its planned grid


@dataclass(frozen=True)
class Trial:
    task: str
    method: str
    lr: float
    score: float | None         # main metric on dev; None when the run failed
    baseline: float | None      # the majority class's score on dev (the record's baseline)
    metric: str
    path: Path


def _sweeper(grid_config: Path):
    """The grid's sweeper settings; a grid that extends another (cpu/lr_grid_beyond: `defaults:
    /experiment/cpu/lr_grid@_global_`) takes the params it does not set from that one."""
    config = OmegaConf.load(grid_config)
    sweeper = config.hydra.sweeper
    if "params" in sweeper:
        return sweeper
    for entry in config.get("defaults", []):
        if isinstance(entry, str) and entry.startswith("/experiment/cpu/"):
            base = grid_config.with_name(entry.split("/")[-1].split("@")[0] + ".yaml")
            return OmegaConf.merge({"params": _sweeper(base).params}, sweeper)
    raise ConfigError(f"{grid_config} has no hydra.sweeper.params and extends no grid that has")


def planned_rates(grid_config: Path = GRID_CONFIG) -> dict[tuple[str, str], set[float]]:
    """(task, method) -> the rates the grid sweep runs, from its config (params x each grid)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from hydra_plugins.adalora_sweeper.grid_sweeper import expand

    sweeper = _sweeper(grid_config)
    plan: dict[tuple[str, str], set[float]] = {}
    for job in expand(sweeper.params, sweeper.grids, [], OverridesParser.create()):
        kv = dict(item.split("=", 1) for item in job)
        plan.setdefault((kv["task"], kv["method"]), set()).add(float(kv["trainer.learning_rate"]))
    return plan


def read_trials(root: Path, model: str, seed: int) -> list[Trial]:
    trials = []
    for path in sorted(root.glob(f"lr*/{model}/*/*/*/seed{seed}.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path} is not a readable record ({err}): delete it and rerun `{GRID_SWEEP}`") from None
        config = record.get("config", {})
        metric = record.get("main_metric", "?")
        score = record.get("metrics", {}).get(metric) if record.get("status") == "ok" else None
        baseline = (record.get("baseline") or {}).get(metric)
        trials.append(Trial(record["task"], record["method"], float(config["trainer"]["learning_rate"]),
                            None if score is None else float(score), baseline, metric, path))
    if not trials:
        raise ConfigError(f"no learning-rate grid records under {root}/lr*/{model}/: run `{GRID_SWEEP}` first")
    return trials


@dataclass(frozen=True)
class Choice:
    trial: Trial
    rates: tuple[float, ...]     # the cell's grid (the planned rates and any extension run)
    planned: int = 3             # how many of them the grid planned

    @property
    def at_edge(self) -> bool:
        return len(self.rates) > 1 and self.trial.lr in (self.rates[0], self.rates[-1])

    @property
    def next_rate(self) -> float | None:
        """The rate beyond the edge the choice sits at, while the cell may still grow (None: inside, or capped)."""
        if not self.at_edge or len(self.rates) >= self.planned + EXTEND_MAX:
            return None
        return float(f"{self.rates[-1] * 2:.6g}") if self.trial.lr == self.rates[-1] else \
            float(f"{self.rates[0] / 2:.6g}")

    @property
    def learns(self) -> bool:
        t = self.trial
        return t.baseline is None or (t.score is not None and t.score > t.baseline)

    def flags(self) -> list[str]:
        out = []
        if self.at_edge:
            out.append("at the grid's edge")
        if not self.learns:
            out.append("no better than the majority class")
        return out


def choose(trials: list[Trial], plan: dict[tuple[str, str], set[float]] | None = None
           ) -> tuple[dict[tuple[str, str], Choice], dict[tuple[str, str], list[float]]]:
    """(the choice of every complete (task, method), the rates still missing of every incomplete one). Without a
    plan every cell with records counts as complete. A cell whose every run failed is an error."""
    cells = dict.fromkeys((t.task, t.method) for t in trials)
    if plan:
        cells.update(dict.fromkeys(plan))
    chosen, missing = {}, {}
    for cell in cells:
        mine = [t for t in trials if (t.task, t.method) == cell]
        want = set(plan.get(cell, ())) if plan else set()
        lacking = sorted(want - {t.lr for t in mine})
        if lacking:
            missing[cell] = lacking
            continue
        ok = [t for t in mine if t.score is not None]
        if not ok:
            raise ConfigError(f"every grid run of {cell[1]} on {cell[0]} failed: see {mine[0].path.parent}")
        best = max(ok, key=lambda t: (t.score, -t.lr))
        choice = Choice(best, tuple(sorted({t.lr for t in mine} | want)), len(want) or 3)
        # a grid extends only its own cells: another grid's cells (cpu/lr_grid's, read while choosing for
        # cpu/lr_grid_beyond) keep their choice, flagged if at an edge, and are extended by their own grid's run
        if choice.next_rate is not None and (not plan or cell in plan):
            missing[cell] = [choice.next_rate]
        else:
            chosen[cell] = choice
    return chosen, missing


def extension_yaml(missing: dict, trials: list[Trial], seed: int) -> str | None:
    """The sweep of the rates that extend grids whose best rate sat at an edge (None when there are none)."""
    done = {(t.task, t.method) for t in trials}
    cells = [(cell, rates) for cell, rates in sorted(missing.items()) if cell in done]
    if not cells:
        return None
    lines = ["# @package _global_",
             "# Written by `python -m runners.lr_search --extend`: the next rate beyond the edge for every (task, method)",
             f"# whose best rate in the grid (selection seed {seed}) sat at an edge. Run by `make cpu-select`; removed",
             "# when no choice is at an edge. Do not edit.",
             "defaults:", "  - /experiment/cpu/lr_grid@_global_", "", "hydra:", "  sweeper:", "    grids:"]
    for (task, method), rates in cells:
        lines.append(f"      - {{task: {task}, method: {method}, trainer.learning_rate: {rates[0]:g}}}")
    return "\n".join(lines) + "\n"


def _scores(trials: list[Trial], cell: tuple[str, str]) -> str:
    return ", ".join(f"{t.lr:g}: {'failed' if t.score is None else f'{t.score:.2f}'}"
                     for t in sorted(trials, key=lambda t: t.lr) if (t.task, t.method) == cell)


def chosen_yaml(chosen: dict, trials: list[Trial], seed: int) -> str:
    lines = ["# @package _global_",
             f"# Written by `python -m runners.lr_search` from the learning-rate grid (dev set, selection seed {seed}):",
             "# the rate every method trains with on each task in the CPU reproduction's table sweeps (read by",
             "# cpu/protocol into trainer.learning_rate). Regenerate it after rerunning the grid; do not edit.",
             "cpu_tasks:"]
    for task in sorted({cell[0] for cell in chosen}):
        lines += [f"  {task}:", "    lr:"]
        for (t, method), choice in sorted(chosen.items()):
            if t != task:
                continue
            flags = choice.flags()
            note = f" [{'; '.join(flags)}]" if flags else ""
            lines.append(f"      # {method} -- {choice.trial.metric} by rate: {_scores(trials, (t, method))}{note}")
            lines.append(f"      {method}: {choice.trial.lr:g}")
    return "\n".join(lines) + "\n"


def grid_markdown(chosen: dict, missing: dict, trials: list[Trial], seed: int) -> str:
    lines = [f"# Learning-rate grid of the CPU reproduction (dev set, selection seed {seed})", "",
             "Produced by `make cpu-select` (`python run.py +experiment=cpu/lr_grid`, records in `lr<rate>/`) and read",
             "by `python -m runners.lr_search`, which keeps the **bold** rate of each row for every reported seed",
             "(conf/experiment/cpu/chosen_lr.yaml). These runs select; they are not results. Each method's three rates",
             "are x2 apart up to its family's centre (conf/experiment/cpu/lr_grid.yaml).", ""]
    for task in sorted({t.task for t in trials} | {c[0] for c in missing}):
        mine = [t for t in trials if t.task == task]
        metric = mine[0].metric if mine else "?"
        baseline = next((t.baseline for t in mine if t.baseline is not None), None)
        base = f"; majority class {baseline:.2f}" if baseline is not None else ""
        lines += [f"## {task} ({metric}{base})", "", "| method | rate: score | chosen | flags |", "|---|---|---:|---|"]
        methods = sorted({t.method for t in mine} | {c[1] for c in missing if c[0] == task})
        for method in methods:
            cell = (task, method)
            cells = []
            for t in sorted((t for t in mine if t.method == method), key=lambda t: t.lr):
                text = f"{t.lr:g}: " + ("failed" if t.score is None else f"{t.score:.2f}")
                cells.append(f"**{text}**" if cell in chosen and chosen[cell].trial is t else text)
            if cell in chosen:
                lines.append(f"| {method} | {', '.join(cells)} | {chosen[cell].trial.lr:g} | "
                             f"{'; '.join(chosen[cell].flags()) or '—'} |")
            else:
                lacking = missing.get(cell, [])
                run = sorted(t.lr for t in mine if t.method == method)
                extending = len(run) >= 3 and len(lacking) == 1 and not run[0] <= lacking[0] <= run[-1]
                why = "best at the grid's edge; next rate:" if extending else "still to run:"
                lines.append(f"| {method} | {', '.join(cells) or '—'} | pending | {why} "
                             f"{', '.join(f'{r:g}' for r in lacking)} |")
        lines.append("")
    return "\n".join(lines)


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runners.lr_search", description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results/lr-search"))
    parser.add_argument("--out", type=Path, default=Path("conf/experiment/cpu/chosen_lr.yaml"))
    parser.add_argument("--grid", default=str(GRID_CONFIG),
                        help="the grid sweep's config (what is planned); '' counts every cell with records as complete")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--seed", type=int, default=0, help="the selection seed (default 0)")
    parser.add_argument("--extend", type=Path, nargs="?", const=EXTEND_CONFIG, default=None,
                        help="write the edge-extension sweep (default conf/experiment/cpu/lr_extend.yaml), or remove "
                             "it when no choice is at an edge")
    args = parser.parse_args(argv)
    try:
        trials = read_trials(args.results, args.model, args.seed)
        chosen, missing = choose(trials, planned_rates(Path(args.grid)) if args.grid else None)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    _write(args.out, chosen_yaml(chosen, trials, args.seed))
    _write(args.results / "README.md", grid_markdown(chosen, missing, trials, args.seed))
    if args.extend is not None:
        text = extension_yaml(missing, trials, args.seed)
        if text is None:
            args.extend.unlink(missing_ok=True)
            print(f"no choice at a grid's edge: {args.extend} removed")
        else:
            _write(args.extend, text)
            print(f"wrote {args.extend}: {text.count('- {task')} rate(s) beyond a grid's edge to run")
    for (task, method), choice in sorted(chosen.items()):
        flags = choice.flags()
        print(f"{task:<5} {method:<20} lr {choice.trial.lr:g}  ({choice.trial.metric} {choice.trial.score:.2f})"
              + (f"  [{'; '.join(flags)}]" if flags else ""))
    for (task, method), lacking in sorted(missing.items()):
        print(f"{task:<5} {method:<20} pending: {len(lacking)} rate(s) still to run")
    print(f"wrote {args.out} and {args.results / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
