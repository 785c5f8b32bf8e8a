"""`make tables`: the paper's tables and figures rebuilt from result records, beside the paper's own numbers.

Reads results/runs/** (records with status `ok`; others are skipped and counted) and results/paper/*.csv,
groups records by model x task x method x budget, and writes to results/tables/<model>/ each paper table in
Markdown and LaTeX (mean ± std (n seeds), the paper's value, the difference, a paired t-test where two methods
share a cell), the Fig. 2 and Fig. 3 layouts as PNG, and an index (results/tables/README.md). Files are only
rewritten when their content changes, so a second run changes nothing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .build import build_table
from .collect import collect
from .figures import fig2, fig3, has_rank_pattern
from .index import Output, index
from .layouts import LAYOUTS, TASK_NAMES
from .paper import PaperDataError, load_paper
from .param_curves import file_name as param_curves_file
from .param_curves import param_curves
from .ranks import rank_pattern_markdown
from .render import latex, markdown

__all__ = ["PaperDataError", "Report", "make_tables"]

FAMILY_NAMES = {"glue": "GLUE tasks", "squad": "SQuAD", "summarization": "summarisation"}
OWN_FILE = re.compile(r"^((table\d+|beyond|successors)_[\w-]+\.(md|tex)|fig[23]_[\w.-]+\.png|params_[\w.-]+\.png|rank_pattern\.md)$")


@dataclass
class Report:
    written: list[str] = field(default_factory=list)     # relative to the tables folder
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    records: int = 0
    skipped: int = 0
    skipped_by_status: dict[str, int] = field(default_factory=dict)  # e.g. {"failed": 2}: runs that diverged


def make_tables(runs_dir: Path, paper_dir: Path, out_dir: Path, runs_label: str | None = None,
                paper_label: str | None = None, figures: bool = True) -> Report:
    """Build everything into out_dir. figures=False renders no PNG and leaves the existing ones in place (a quick
    rebuild of the text tables; a figure that has no data any more is still removed)."""
    runs_dir, paper_dir, out_dir = Path(runs_dir), Path(paper_dir), Path(out_dir)
    paper = load_paper(paper_dir)
    found = collect(runs_dir)
    files: dict[str, bytes] = {}
    outputs: list[Output] = []
    messages: list[str] = []

    in_paper = {method for layout in LAYOUTS if layout.paper for method in layout.methods}
    for layout in LAYOUTS:
        # a table the paper has: for its model and every model with a record of it; one it has not (issues 17, 18):
        # only for models that ran one of its own methods (LoRA and AdaLoRA alone stay in Table 1)
        models = {layout.paper_model} if layout.paper else set()
        models |= {r.model for r in found.records if r.task in layout.tasks and r.method in layout.methods
                   and (layout.paper or r.method not in in_paper)}
        for model in sorted(models):
            table = build_table(layout, model, found, paper)
            md, tex = f"{model}/{layout.file}.md", f"{model}/{layout.file}.tex"
            files[md], files[tex] = markdown(table).encode(), latex(table).encode()
            remark = ("not in the paper" if not layout.paper else "the paper's model" if table.is_paper_model
                      else f"reference: the paper's {layout.paper_model}")
            outputs.append(Output("table", layout.title, model, [md, tex], table.records, remark))
            if layout.fig2:
                png, used = fig2(layout, model, found, paper, render=figures)
                if png is not None:
                    name = f"{model}/fig2_{layout.fig2}.png"
                    if figures:
                        files[name] = png
                    what = f"Fig. 2 layout: metric against budget, {FAMILY_NAMES[layout.fig2]}"
                    outputs.append(Output("figure", what, model, [name], used,
                                          "" if used else "the paper's values only; no records yet"))
                png, used = param_curves(layout, model, found, paper, render=figures)
                if png is not None:
                    name = param_curves_file(model, layout)
                    if figures:
                        files[name] = png
                    outputs.append(Output("figure", f"score against trained parameters, {FAMILY_NAMES[layout.fig2]}",
                                          model, [name], used, "" if used else "the paper's values only; no records yet"))

    # Fig. 3 only from runs that learnt: a run at or below its task's majority class allocates rank on noise.
    # (Imported here: `python -m runners.tables.findings` would otherwise find its module already imported.)
    from .findings import below_majority
    rank_cells = [(cell, [r for r in recs if has_rank_pattern(r) and not below_majority(r)])
                  for cell, recs in found.cells.items() if cell[2] == "adalora"]
    rank_cells = [(cell, recs) for cell, recs in rank_cells if recs]
    for (model, task, _, gkey), recs in rank_cells:
        group = found.groups[gkey]
        name = f"{model}/fig3_rank_pattern_{task}_{group.slug}.png"
        if figures:
            files[name] = fig3(model, task, group, recs)
        outputs.append(Output("figure", f"Fig. 3 layout: AdaLoRA final rank, {TASK_NAMES.get(task, task)}, "
                                        f"budget {group.label}", model, [name], recs))
    for model in sorted({cell[0] for cell, _ in rank_cells}):
        cells = sorted(((task, found.groups[gkey], recs) for (m, task, _, gkey), recs in rank_cells if m == model),
                       key=lambda c: (c[0], c[1].sort_key))
        name = f"{model}/rank_pattern.md"
        files[name] = rank_pattern_markdown(model, cells).encode()
        outputs.append(Output("table", "AdaLoRA's final rank allocation: feed-forward and upper-layer shares, "
                                       "rank per layer x matrix type (Fig. 3 in numbers)", model, [name],
                              [r for _, _, recs in cells for r in recs]))
    if not rank_cells:
        messages.append("Fig. 3 (AdaLoRA's final rank per layer x matrix type): no AdaLoRA record with a rank "
                        "pattern yet, so there is nothing to draw. Run AdaLoRA into results/runs (e.g. "
                        "`python run.py task=sst2 method=adalora budget=0.32% model=minilm "
                        "task.data_dir=data/glue/sst2`) and `make tables` again.")
    if not found.records:
        messages.append("No result records yet: every table shows the paper's values with our cells missing, "
                        "and Fig. 2 shows the paper's values only.")

    files["README.md"] = index(found, outputs, messages, runs_label or str(runs_dir),
                               paper_label or str(paper_dir)).encode()
    by_status: dict[str, int] = {}
    for _, status in found.skipped:
        by_status[status] = by_status.get(status, 0) + 1
    report = Report(messages=messages, records=len(found.records), skipped=len(found.skipped),
                    skipped_by_status=dict(sorted(by_status.items())))
    for name in sorted(files):
        path = out_dir / name
        if path.is_file() and path.read_bytes() == files[name]:
            report.unchanged.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(files[name])
        tmp.replace(path)
        report.written.append(name)
    report.removed = _remove_stale(out_dir, set(files) | {f for o in outputs for f in o.files})
    return report


def _remove_stale(out_dir: Path, keep: set[str]) -> list[str]:
    """Files an earlier run made (tables and figures in model folders) that this run no longer makes."""
    removed = []
    if not out_dir.is_dir():
        return removed
    for folder in sorted(p for p in out_dir.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            name = f"{folder.name}/{path.name}"
            if path.is_file() and OWN_FILE.match(path.name) and name not in keep:
                path.unlink()
                removed.append(name)
        if not any(folder.iterdir()):
            folder.rmdir()
    return removed
