"""A built table as Markdown and as LaTeX (booktabs). Both come from the same grid of cell texts."""
from __future__ import annotations

import statistics

from .build import Row, Table
from .collect import budget_group
from .layouts import TASK_NAMES, method_name, model_name
from .stats import TEST_NAME, Summary
from .values import metric_value

MISSING = "—"


def fmt_summary(s: Summary | None) -> str:
    if s is None:
        return MISSING
    if s.std is None:
        return f"{s.mean:.2f} ({s.n})"
    return f"{s.mean:.2f} ± {s.std:.2f} ({s.n})"


def fmt_params(n: float | None) -> str:
    if n is None:
        return MISSING
    return f"{n / 1e6:.2f}M" if n >= 1e5 else f"{n / 1e3:.1f}k"


def fmt_p(p: float | None) -> str:
    return MISSING if p is None else f"{p:.3g}"


def grid(table: Table) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of the main table, as text."""
    header = ["Method", "Budget", "#Params"] + [c.header for c in table.columns]
    lines = []
    ref = "↳ paper" if table.is_paper_model else "↳ paper ref."
    for row in table.rows:
        lines.append([method_name(row.method), row.budget_label, fmt_params(row.params)]
                     + [fmt_summary(s) for s in row.ours])
        if any(v is not None for v in row.paper):
            lines.append([ref, _tier(row), row.paper_params or MISSING]
                         + [v.value if v is not None else MISSING for v in row.paper])
        if any(d is not None for d in row.diff):
            lines.append(["↳ Δ", "", ""] + [f"{d:+.2f}" if d is not None else MISSING for d in row.diff])
    return header, lines


def _tier(row: Row) -> str:
    return row.tier if row.tier else MISSING


def significance_grid(table: Table) -> tuple[list[str], list[list[str]]]:
    header = ["Column", "Budget", "Comparison", "Seeds", "Mean difference", "95% CI", "t", "p", "p Wilcoxon",
              "p Holm", "Detectable"]
    lines = []
    for c in table.comparisons:
        t = c.test
        lines.append([c.column.header, c.group.label, f"{method_name(c.focal)} − {method_name(c.other)}",
                      ", ".join(str(s) for s in t.seeds), f"{t.mean_diff:+.2f}", fmt_ci(t.ci),
                      MISSING if t.t is None else f"{t.t:.2f}", fmt_p(t.p_t), fmt_p(t.p_wilcoxon), fmt_p(t.p_holm),
                      MISSING if t.detectable is None else f"{t.detectable:.2f}"])
    return header, lines


def fmt_ci(ci: tuple[float, float]) -> str:
    return f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"


def intro(table: Table) -> list[str]:
    layout = table.layout
    n = len(table.records)
    source = f" and the paper's Table {layout.paper_table} (`results/paper/`)" if layout.paper else \
        "; the paper has no such table (these methods or options are not in it), so there are no paper values"
    lines = [f"Model: `{table.model}` ({model_name(table.model)}). Rebuilt by `make tables` from {n} result "
             f"record{'s' if n != 1 else ''} of this model (listed in `results/tables/README.md`){source}."]
    if not layout.paper:
        lines.append(f"Each cell: mean ± std (n seeds) of our records (sample std; one seed shows no std); "
                     f"{MISSING}: no record (cells are never filled in).")
    elif table.is_paper_model:
        diff = " **↳ Δ**: ours − paper." if layout.difference else \
            " No difference is computed: the paper measured on one V100, ours ran elsewhere; compare the ratio below."
        lines.append("Each cell: mean ± std (n seeds) of our records (sample std; one seed shows no std); "
                     f"**↳ paper**: the paper's value.{diff} {MISSING}: no record (cells are never filled in).")
    else:
        lines.append(f"Each cell: mean ± std (n seeds) of our records (sample std; one seed shows no std); "
                     f"{MISSING}: no record (cells are never filled in). **↳ paper ref.** rows are the paper's "
                     f"{model_name(layout.paper_model)} values at the same budget level (same method sizes, or no "
                     f"budget), shown for orientation only: this is a different model, so no difference is computed.")
    if table.omitted_tasks:
        lines.append("Tasks without a record of this model are left out: "
                     + ", ".join(TASK_NAMES.get(t, t) for t in table.omitted_tasks) + ".")
    if layout.remark:
        lines.append(layout.remark)
    if any(c.task == "all" for c in table.columns):
        lines.append("All: per seed, the mean over the eight tasks of each task's mean (MNLI m/mm, QQP acc/F1), "
                     "over the seeds that ran every task, as the paper's All (results/paper/README.md).")
    if any(c.metric == "time_per_epoch_min" for c in table.columns):
        lines.append("Ours: time per epoch = the record's training time (`cost.train_time_s`: the training loop, "
                     "loading and evaluation left out; a record without it: the whole run) / epochs; memory = the "
                     "training's peak (`cost.peak_memory_mb`: RSS high-water mark on a CPU, max allocated on CUDA). "
                     "Wall times move with whatever else ran on the machine, so the ratios below also give the "
                     "processes' CPU time (`cost.train_cpu_s`, which barely moves) and the CPU share the runs had "
                     "(≈ 1 for a one-thread run with a core to itself); records made before runners/cost.py "
                     "measured them leave those columns empty.")
    return lines


def significance_text(table: Table) -> str:
    if table.layout.focal is None:
        return ""
    return (f"{method_name(table.layout.focal)} against every other method at the same task and budget, paired by "
            f"seed over the seeds both ran, where each has at least 3 seeds and they share at least 3. Mean "
            f"difference: over those seeds; 95% CI: percentile bootstrap of it over the seeds (exact enumeration); "
            f"t and p: {TEST_NAME} (two-sided, scipy.stats.ttest_rel), {MISSING} where every seed gives the same "
            f"difference; p Wilcoxon: signed-rank test (two-sided; with 5 seeds it cannot go below 0.0625); p Holm: "
            f"the t-test's p Holm-adjusted over this table's comparisons (its family), the only p on which a "
            f"difference is called significant (< 0.05); Detectable: the true difference the paired t-test finds "
            f"with 80% power at α = 0.05, given the SD of the differences and the number of seeds.")


RATIO_HEADER = ["Column", "Budget", "ours (wall)", "ours (CPU time)", "CPU share (min–max)", "paper"]


def _cell_values(row, task: str, metric: str) -> list[float]:
    values = (metric_value(r.data, metric) for r in row.records.get(task, []))
    return [v for v in values if v is not None]


def ratio_lines(table: Table) -> list[list[str]]:
    """Table 15: AdaLoRA / LoRA time per epoch, ours (wall and CPU time, with the CPU share the runs had) and the
    paper's, per task and budget."""
    by = {(row.method, row.budget_label, row.tier): row for row in table.rows}
    lines = []
    for i, col in enumerate(table.columns):
        if col.metric != "time_per_epoch_min":
            continue
        in_budget_order = sorted(by.items(), key=lambda kv: (budget_group({"label": kv[0][1]}).sort_key, str(kv[0])))
        for (method, label, tier), row in in_budget_order:
            if method != "adalora":
                continue
            lora = next((r for (m, l, t), r in by.items() if m == "lora" and l == label and t == tier), None)
            if lora is None:
                continue
            ours = (row.ours[i].mean / lora.ours[i].mean) if row.ours[i] and lora.ours[i] else None
            cpu_a, cpu_l = (_cell_values(r, col.task, "cpu_time_per_epoch_min") for r in (row, lora))
            cpu = statistics.fmean(cpu_a) / statistics.fmean(cpu_l) if cpu_a and cpu_l else None
            shares = _cell_values(row, col.task, "cpu_share") + _cell_values(lora, col.task, "cpu_share")
            paper = (row.paper[i].number / lora.paper[i].number) if row.paper[i] and lora.paper[i] else None
            lines.append([col.header, label, MISSING if ours is None else f"{ours:.3f}",
                          MISSING if cpu is None else f"{cpu:.3f} ({len(cpu_a)} / {len(cpu_l)} runs)",
                          f"{min(shares):.2f}–{max(shares):.2f}" if shares else MISSING,
                          MISSING if paper is None else f"{paper:.3f}"])
    return lines


def grouped_notes(table: Table) -> list[tuple[str, str]]:
    """Each known inconsistency of the paper's values once, with the cells it touches."""
    cells: dict[str, list[str]] = {}
    for row, col, note in table.notes:
        cells.setdefault(note, []).append(f"{row}, {col}")
    return [(note, "; ".join(where)) for note, where in cells.items()]


# --- Markdown ------------------------------------------------------------------------------------------------
def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    esc = [[c.replace("|", "\\|") for c in r] for r in [header] + rows]
    out = ["| " + " | ".join(esc[0]) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in esc[1:]]
    return out


def markdown(table: Table) -> str:
    layout = table.layout
    out = [f"# {layout.title} — {model_name(table.model)}", ""]
    for paragraph in intro(table):
        out += [paragraph, ""]
    out += _md_table(*grid(table))
    ratios = ratio_lines(table) if layout.key == "table15" else []
    if ratios:
        out += ["", "## AdaLoRA / LoRA time per epoch", ""]
        out += _md_table(RATIO_HEADER, ratios)
    if layout.focal is not None:
        out += ["", "## Significance", "", significance_text(table), ""]
        header, rows = significance_grid(table)
        out += _md_table(header, rows) if rows else ["No cell has two methods with at least 3 seeds each yet."]
    if table.notes or table.mixed:
        out += ["", "## Notes", ""]
        out += [f"- {note} (paper: {cells})" for note, cells in grouped_notes(table)]
        out += [f"- records of `{cell}` differ in settings besides the seed: {', '.join(keys)}"
                for cell, keys in table.mixed]
    return "\n".join(out) + "\n"


# --- LaTeX ---------------------------------------------------------------------------------------------------
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_LATEX_UNICODE = {"±": r"$\pm$", "—": "--", "−": "$-$", "Δ": r"$\Delta$", "↳": r"\quad", "λ": r"$\lambda$",
                  "γ": r"$\gamma$", "α": r"$\alpha$", "·": r"$\cdot$", "|": r"$|$", "≥": r"$\geq$", "r̄": r"$\bar{r}$"}


def latex_escape(text: str) -> str:
    text = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    for k, v in _LATEX_UNICODE.items():
        text = text.replace(k, v)
    return text


def _tex_table(header: list[str], rows: list[list[str]], caption: str, label: str) -> list[str]:
    spec = "lll" + "r" * (len(header) - 3) if header[0] == "Method" else "l" * len(header)
    out = [r"\begin{table}[ht]", r"\centering", r"\small", rf"\caption{{{latex_escape(caption)}}}",
           rf"\label{{{label}}}", rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
           " & ".join(latex_escape(h) for h in header) + r" \\", r"\midrule"]
    out += [" & ".join(latex_escape(c) for c in r) + r" \\" for r in rows]
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return out


def latex(table: Table) -> str:
    layout = table.layout
    out = [f"% {layout.title} — {model_name(table.model)}. Generated by `make tables`; do not edit.",
           "% Needs \\usepackage{booktabs}."]
    out += ["% " + line.replace("**", "") for line in intro(table)]
    caption = f"{layout.title}, {model_name(table.model)}: ours as mean ± std (n seeds)"
    out += _tex_table(*grid(table), caption=caption, label=f"tab:{layout.key}-{table.model}")
    ratios = ratio_lines(table) if layout.key == "table15" else []
    if ratios:
        out += _tex_table(RATIO_HEADER, ratios, "AdaLoRA / LoRA time per epoch",
                          f"tab:{layout.key}-{table.model}-ratio")
    if layout.focal is not None:
        header, rows = significance_grid(table)
        if rows:
            out += _tex_table(header, rows, f"Significance: {significance_text(table)}",
                              f"tab:{layout.key}-{table.model}-significance")
        else:
            out.append("% Significance: no cell has two methods with at least 3 seeds each yet.")
    return "\n".join(out) + "\n"
