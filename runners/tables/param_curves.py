"""Score against trained parameters: per model and task family, one panel per task (and, for GLUE, the average over
its tasks), the task's headline metric against the parameters a method trains in the backbone (the paper's
"#Params": AdaLoRA's retained P, Q count, else the trainable parameters less the task head), log x axis.

- Ours: one line per method across its budgets, mean over seeds with ± std error bars (and, where the seeds trained
  different counts, as AdaLoRA's final ranks do, ± std along x). Full fine-tuning and BitFit are single points.
- AdaLoRA's starting size: a hollow marker at the parameters it holds at step 0 (the record's
  `budget.allocated_params`), joined by a dotted line to its final budget at the same score.
- The paper's values: dashed lines with open square markers, labelled with the paper's model, at the paper's own
  #Params (counts as printed; a share of the model's parameters converted with the paper's model size). On a model
  other than the paper's they stand as a labelled reference, not a comparison.
- GLUE average: per seed, the mean over the panel's tasks of each task's score (MNLI m/mm and QQP acc/F1 averaged,
  as Table 1's "All"), over the seeds that ran every task; the paper's over the same tasks.

PNGs are byte-stable (figures.png_bytes).
"""
from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import LogLocator  # noqa: E402

from .build import paper_rows  # noqa: E402
from .collect import Collection, Record  # noqa: E402
from .figures import COLORS, png_bytes  # noqa: E402
from .layouts import FIG2_METRIC, METRIC_NAMES, TASK_NAMES, Layout, method_name, model_name  # noqa: E402
from .paper import PaperValue  # noqa: E402
from .values import adapted_params, metric_value, task_score  # noqa: E402

# The paper's model sizes, to place its share-labelled rows (SQuAD's 0.08%, BART's 1.10%) on a count axis: DeBERTaV3-
# base as Table 1 prints its full fine-tuning count, BART-large as conf/model/bart-large.yaml states it.
PAPER_MODEL_PARAMS = {"deberta-v3-base": 184e6, "bart-large": 406.29e6}
AVERAGE = "average"
FAMILY_TITLES = {"glue": "GLUE", "squad": "SQuAD", "summarization": "summarisation"}


def file_name(model: str, layout: Layout) -> str:
    return f"{model}/params_{layout.fig2}.png"


def paper_count(value: PaperValue, layout: Layout) -> float | None:
    """The paper's #Params of a row as a count: '0.32M' / '184M' as printed, '0.08%' / '100%' of the model's size,
    and full fine-tuning (printed without a count in Table 2) the whole model."""
    full = PAPER_MODEL_PARAMS.get(layout.paper_model)
    text = (value.params or "").strip()
    m = re.fullmatch(r"([\d.]+)\s*([MK%]?)", text)
    if m:
        number, unit = float(m.group(1)), m.group(2)
        if unit == "M":
            return number * 1e6
        if unit == "K":
            return number * 1e3
        if unit == "%":
            return number / 100 * full if full else None
    return full if value.method == "full" else None


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _task_metrics(layout: Layout, task: str) -> list[str]:
    return [c.metric for c in layout.columns if c.task == task]


class Point:
    def __init__(self, label: str, xs: list[float], ys: list[float], start: list[float] | None = None) -> None:
        self.label = label
        self.x, self.xerr = _mean_std(xs)
        self.y, self.yerr = _mean_std(ys)
        self.n = len(ys)
        self.start = statistics.fmean(start) if start else None


def _ours(layout: Layout, model: str, found: Collection, task: str) -> dict[str, list[Point]]:
    """method -> its points on one task (or the GLUE average), ordered by parameters."""
    out: dict[str, list[Point]] = defaultdict(list)
    cells = defaultdict(dict)  # method -> gkey -> task -> records
    for (m, t, method, gkey), recs in found.cells.items():
        if m == model and t in layout.tasks and method in _drawn(layout):
            cells[method].setdefault(gkey, {})[t] = recs
    for method, groups in cells.items():
        for gkey, by_task in groups.items():
            if task == AVERAGE:
                seeds = set.intersection(*({r.seed for r in by_task.get(t, [])} for t in _average_tasks(layout, found, model)))
                rows = []
                for seed in sorted(seeds):
                    recs = [next(r for r in by_task[t] if r.seed == seed) for t in _average_tasks(layout, found, model)]
                    scores = [task_score(r.data, _task_metrics(layout, r.task)) for r in recs]
                    counts = [adapted_params(r.data) for r in recs]
                    if all(s is not None for s in scores) and all(c is not None for c in counts):
                        rows.append((statistics.fmean(scores), statistics.fmean(counts), recs))
                ys, xs = [r[0] for r in rows], [r[1] for r in rows]
                starts = [_start(r) for row in rows for r in row[2]]
            else:
                recs = by_task.get(task, [])
                pairs = [(metric_value(r.data, FIG2_METRIC[task]), adapted_params(r.data), r) for r in recs]
                pairs = [p for p in pairs if p[0] is not None and p[1] is not None]
                ys, xs = [p[0] for p in pairs], [p[1] for p in pairs]
                starts = [_start(p[2]) for p in pairs]
            if ys:
                starts = [s for s in starts if s is not None]
                out[method].append(Point(found.groups[gkey].label, xs, ys, starts if method == "adalora" else None))
    return {method: sorted(points, key=lambda p: p.x) for method, points in out.items()}


def _drawn(layout: Layout) -> tuple[str, ...]:
    """The methods of the figure: the table's, then the ones published since (our records only: the paper has none)."""
    return layout.methods + layout.curve_methods


def _start(record: Record) -> float | None:
    value = (record.data.get("budget") or {}).get("allocated_params")
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _average_tasks(layout: Layout, found: Collection, model: str) -> list[str]:
    """The GLUE tasks this model has records of (the average is over these)."""
    present = {r.task for r in found.records if r.model == model}
    return [t for t in layout.tasks if t in present]


def _theirs(layout: Layout, paper: list[PaperValue], task: str, tasks: list[str]) -> dict[str, list[tuple]]:
    """method -> [(count, value)] of the paper's rows on one task (or its average over `tasks`)."""
    out: dict[str, list[tuple]] = defaultdict(list)
    for (method, _), values in paper_rows(layout, paper).items():
        if method not in layout.methods:
            continue
        any_value = next(iter(values.values()), None)
        if any_value is None:
            continue
        count = paper_count(any_value, layout)
        if count is None:
            continue
        if task == AVERAGE:
            if set(tasks) == set(layout.tasks) and (("all", "average") in values):
                out[method].append((count, values[("all", "average")].number))
                continue
            scores = []
            for t in tasks:
                found = [values.get((t, m)) for m in _task_metrics(layout, t)]
                if not found or any(v is None for v in found):
                    break
                scores.append(statistics.fmean(v.number for v in found))
            else:
                if scores:
                    out[method].append((count, statistics.fmean(scores)))
        elif (task, FIG2_METRIC[task]) in values:
            out[method].append((count, values[(task, FIG2_METRIC[task])].number))
    return {m: sorted(v) for m, v in out.items()}


def param_curves(layout: Layout, model: str, found: Collection, paper: list[PaperValue],
                 render: bool = True) -> tuple[bytes | None, list[Record]]:
    """The figure of one model and one task family (the layout's), or None where neither we nor the paper have a
    value; with the records drawn. `render=False` returns b"" for the PNG."""
    panels, used = [], set()
    avg_tasks = _average_tasks(layout, found, model) if layout.fig2 == "glue" else []
    if layout.fig2 == "glue" and not avg_tasks and model == layout.paper_model:
        avg_tasks = list(layout.tasks)  # the paper's own average ("All") stands alone
    tasks = list(layout.tasks) + ([AVERAGE] if layout.fig2 == "glue" and len(avg_tasks) >= 2 else [])
    for task in tasks:
        ours = _ours(layout, model, found, task)
        theirs = _theirs(layout, paper, task, avg_tasks if task == AVERAGE else [])
        has_ours = any(ours.values())
        if has_ours or (model == layout.paper_model and theirs):
            panels.append((task, ours, theirs))
            if has_ours and task != AVERAGE:
                used |= {r.path for (m, t, method, _), recs in found.cells.items() for r in recs
                         if m == model and t == task and method in _drawn(layout)}
    if not panels:
        return None, []
    records = sorted((r for r in found.records if r.path in used), key=lambda r: r.path)
    if not render:
        return b"", records
    return _draw(layout, model, panels, avg_tasks), records


def _draw(layout: Layout, model: str, panels: list, avg_tasks: list[str]) -> bytes:
    ncols = 2 if len(panels) == 4 else min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    # At least 10.5 in wide: the two-line title and the three-column legend need it even over one panel.
    width, height = max(5.0 * ncols, 10.5), 3.6 * nrows + 1.6
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False)
    handles: dict[str, object] = {}
    paper_label = model_name(layout.paper_model)
    for ax, (task, ours, theirs) in zip(axes.flat, panels):
        for method in _drawn(layout):
            color = COLORS.get(method, "black")
            if method in theirs:
                pts = theirs[method]
                h, = ax.plot([p[0] for p in pts], [p[1] for p in pts], ls="--", marker="s", mfc="white", ms=5,
                             color=color, lw=1, alpha=0.8)
                handles.setdefault(f"{method_name(method)} (paper, {paper_label})", h)
            points = ours.get(method) or []
            if not points:
                continue
            h = ax.errorbar([p.x for p in points], [p.y for p in points], yerr=[p.yerr for p in points],
                            xerr=[p.xerr for p in points], color=color, marker="o", ms=5, capsize=3, lw=1.6)
            handles.setdefault(f"{method_name(method)} (ours)", h)
            for p in points:
                if p.start is not None and p.start > p.x:
                    ax.plot([p.start, p.x], [p.y, p.y], ls=":", color=color, lw=1.2)
                    s, = ax.plot([p.start], [p.y], marker="o", mfc="white", mec=color, ms=6, ls="none")
                    handles.setdefault("AdaLoRA (ours): starting size, dotted to its final budget", s)  # noqa: E501
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10))
        title = TASK_NAMES.get(task, task)
        metric = METRIC_NAMES.get(FIG2_METRIC.get(task, ""), FIG2_METRIC.get(task, ""))
        if task == AVERAGE:
            title = f"GLUE average ({', '.join(TASK_NAMES.get(t, t) for t in avg_tasks)})" if avg_tasks \
                else "GLUE average (all tasks)"
            metric = "mean task score"
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("trained parameters in the backbone (log scale)", fontsize=8)
        ax.set_ylabel(metric, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="major", alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    start = "AdaLoRA (ours): starting size, dotted to its final budget"
    order = [f"{method_name(m)} ({who})" for m in _drawn(layout) for who in ("ours", f"paper, {paper_label}")]
    labels = [label for label in order + [start] if label in handles]
    legend_rows = math.ceil(len(labels) / 3)
    height += max(0.0, 0.2 * legend_rows - 0.6)   # a long legend (the successors' methods) gets its own room
    fig.set_size_inches(width, height)
    reference = "the paper's model" if model == layout.paper_model else f"a reference on {paper_label}, not this model"
    fig.suptitle(f"Score against trained parameters, {FAMILY_TITLES.get(layout.fig2, layout.fig2)}: "
                 f"{model_name(model)}\nours: mean ± std over seeds (solid); the paper's values: dashed, open "
                 f"squares ({reference})", fontsize=10, y=1 - 0.08 / height)
    fig.legend([handles[label] for label in labels], labels, loc="lower center", ncol=min(3, len(labels)),
               fontsize=7.5, frameon=False)
    fig.subplots_adjust(left=0.7 / width, right=1 - 0.2 / width, bottom=(0.6 + 0.2 * legend_rows) / height,
                        top=1 - 0.85 / height, wspace=0.3, hspace=0.5)
    return png_bytes(fig)
