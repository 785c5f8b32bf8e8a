"""Where AdaLoRA put its budget, in numbers: the text companion of the Fig. 3 heat maps.

For every AdaLoRA cell of a model (task x budget) with rank patterns: the mean final rank per matrix type and per
layer over its seeds, and the two shares the paper's Fig. 3 / Fig. 1 finding is about — the feed-forward matrices'
share of the kept rank (W_f1, W_f2; a uniform allocation gives them 2 of 6 types, 33.3%) and the upper half of the
layers' share (uniform: 50%), each as mean ± std over seeds. Written to results/tables/<model>/rank_pattern.md.
"""
from __future__ import annotations

from .collect import Record
from .figures import rank_grid
from .layouts import TASK_NAMES
from .stats import summarize

FEED_FORWARD = ("W_f1", "W_f2")


def _shares(record: Record) -> tuple[float, float] | None:
    """(feed-forward share, upper-half share) of one run's kept rank, in percent."""
    layout, pattern = record.data["rank_layout"], record.data["rank_pattern"]
    total = sum(pattern.values())
    if not total:
        return None
    layers = list(dict.fromkeys(layout[name][0] for name in pattern))  # the model's module order, as rank_grid
    upper = set(layers[len(layers) // 2:])
    ffn = sum(rank for name, rank in pattern.items() if layout[name][1] in FEED_FORWARD)
    top = sum(rank for name, rank in pattern.items() if layout[name][0] in upper)
    return 100.0 * ffn / total, 100.0 * top / total


def _pm(values: list[float]) -> str:
    s = summarize(values)
    if s is None:
        return "–"
    return f"{s.mean:.1f}" + (f" ± {s.std:.1f}" if s.std is not None else "") + f" ({s.n})"


def rank_pattern_markdown(model: str, cells: list[tuple[str, object, list[Record]]]) -> str:
    """cells: (task, budget group, records) of the model's AdaLoRA cells."""
    lines = [f"# AdaLoRA's final rank allocation — {model}", "",
             "Built by `make tables` from results/runs (records with a rank pattern). Shares are of the kept rank:",
             "feed-forward = W_f1 + W_f2 (a uniform allocation: 33.3%); upper half = the top half of the layers",
             "(uniform: 50%). Mean ± std over seeds (n). The paper (Fig. 1, Fig. 3) finds both above uniform.", "",
             "| task | budget | seeds | feed-forward share % | upper-half share % |", "|---|---|---:|---:|---:|"]
    for task, group, records in cells:
        shares = [s for s in (_shares(r) for r in records) if s is not None]
        lines.append(f"| {TASK_NAMES.get(task, task)} | {group.label} | {len(records)} | "
                     f"{_pm([s[0] for s in shares])} | {_pm([s[1] for s in shares])} |")
    for task, group, records in cells:
        types, layers, values = rank_grid(records)
        lines += ["", f"## {TASK_NAMES.get(task, task)}, budget {group.label}: mean final rank per layer x matrix type "
                      f"(seeds {', '.join(str(r.seed) for r in records)})", "",
                  "| layer | " + " | ".join(types) + " | sum |", "|---|" + "---:|" * (len(types) + 1)]
        for j, layer in enumerate(layers):
            row = [values[i][j] for i in range(len(types))]
            lines.append(f"| {layer} | " + " | ".join("–" if v is None else f"{v:.1f}" for v in row)
                         + f" | {sum(v for v in row if v is not None):.1f} |")
        totals = [sum(v for v in values[i] if v is not None) for i in range(len(types))]
        lines.append("| all | " + " | ".join(f"{t:.1f}" for t in totals) + f" | {sum(totals):.1f} |")
    return "\n".join(lines) + "\n"
