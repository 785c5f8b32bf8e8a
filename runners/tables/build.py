"""One paper table for one model, from the grouped records and the paper's values.

Rows are (method, budget) pairs; a cell holds our mean ± std over seeds, the paper's value and the difference.
Records of different models never share a table. On the paper's own model a row's paper value is the paper's
row at the same budget label (or, for a run without a label, at the same method sizes); on any other model the
paper's value is a labelled reference at the same budget level, matched by method sizes (the paper's budget
tables: LoRA r, AdaLoRA r̄, adapter width), and no difference is computed: the models differ.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from adalora.budget import PAPER_TABLES, parse_budget, same_budget

from .collect import BudgetGroup, Collection, Record, differing_settings
from .layouts import Column, Layout, method_name
from .paper import PaperValue
from .stats import Paired, Summary, paired, summarize, with_holm
from .values import adapted_params, metric_value, task_score


@dataclass
class Row:
    method: str
    group: BudgetGroup | None              # None: a paper row that no record reached
    tier: str | None                       # the paper's budget label this row stands for ("" = none), or None
    records: dict[str, list[Record]]       # task -> the cell's records, by seed
    ours: list[Summary | None]             # one per column
    paper: list[PaperValue | None]         # one per column
    diff: list[float | None]               # one per column (ours − paper, paper's model only)
    params: float | None                   # mean of our records' adapted parameters
    paper_params: str | None

    @property
    def budget_label(self) -> str:
        if self.group is None:
            return self.tier or "—"
        return self.group.label

    def all_records(self) -> list[Record]:
        return [r for task in sorted(self.records) for r in self.records[task]]


@dataclass
class Comparison:
    column: Column
    group: BudgetGroup
    focal: str
    other: str
    test: Paired          # with p_holm over the table's comparisons (its family)


@dataclass
class Table:
    layout: Layout
    model: str
    columns: tuple[Column, ...]
    rows: list[Row]
    comparisons: list[Comparison] = field(default_factory=list)
    notes: list[tuple[str, str, str]] = field(default_factory=list)     # (row, column, note) of paper values
    mixed: list[tuple[str, list[str]]] = field(default_factory=list)    # (cell, settings that differ)
    omitted_tasks: tuple[str, ...] = ()

    @property
    def is_paper_model(self) -> bool:
        return self.model == self.layout.paper_model

    @property
    def records(self) -> list[Record]:
        return sorted({r.path: r for row in self.rows for r in row.all_records()}.values(), key=lambda r: r.path)


def paper_rows(layout: Layout, paper: list[PaperValue]) -> dict[tuple[str, str], dict[tuple[str, str], PaperValue]]:
    """(method, budget label) -> (task, metric) -> the paper's value, for this table's rows (not Table 14's
    variants)."""
    rows: dict = defaultdict(dict)
    for v in paper:
        if v.table == layout.paper_table and not v.variant:
            rows[(v.method, v.budget)][(v.task, v.metric)] = v
    return rows


def _record_tier(layout: Layout, model: str, record: Record) -> str | None:
    """The paper budget label a record's run matches: its own label on the paper's model, else its sizes."""
    if record.label and model == layout.paper_model:
        try:
            mine = parse_budget(record.label)
        except Exception:  # noqa: BLE001 - a label the parser rejects matches nothing
            mine = None
        for tier in layout.tiers:
            if mine is not None and same_budget(parse_budget(tier), mine):
                return tier
    sizes = record.sizes
    if not sizes:
        return None
    table = PAPER_TABLES.get(layout.paper_model, {})
    for tier in layout.tiers:
        row = table.get(tier, {})
        if record.method in row:
            want = row[record.method]
        elif "target_rank" in sizes:       # AdaLoRA's ablation variants run at AdaLoRA's sizes
            want = row.get("adalora")
        elif "rank" in sizes:              # and LoRA's at LoRA's
            want = row.get("lora")
        else:
            want = None
        if want and ("target_rank" in want and sizes.get("target_rank") == want["target_rank"]
                     or "target_rank" not in want and all(sizes.get(k) == v for k, v in want.items())):
            return tier
    return None


def group_tiers(layout: Layout, model: str, records: list[Record]) -> dict[tuple, str | None]:
    """Each budget group's paper budget label: the one its records match (all of them that match any must match
    the same), "" for runs without a budget, None where there is none or it is ambiguous."""
    found: dict[tuple, set] = defaultdict(set)
    groups = {}
    for r in records:
        groups[r.group.key] = r.group
        tier = _record_tier(layout, model, r)
        if tier is not None:
            found[r.group.key].add(tier)
    out = {}
    for key, group in groups.items():
        if group.kind == "none":
            out[key] = ""
        else:
            tiers = found.get(key, set())
            out[key] = next(iter(tiers)) if len(tiers) == 1 else None
    return out


def build_table(layout: Layout, model: str, found: Collection, paper: list[PaperValue]) -> Table:
    paper_by_row = paper_rows(layout, paper)
    own = {(task, method, gkey): recs for (m, task, method, gkey), recs in found.cells.items()
           if m == model and task in layout.tasks and method in layout.methods}
    tiers = group_tiers(layout, model, [r for recs in own.values() for r in recs])
    is_paper_model = model == layout.paper_model

    row_keys = sorted({(method, gkey) for (_, method, gkey) in own})
    rows: list[Row] = []
    for method, gkey in row_keys:
        records = {task: own[(task, method, gkey)] for task in layout.tasks if (task, method, gkey) in own}
        rows.append(Row(method, found.groups[gkey], tiers.get(gkey), records, [], [], [], None, None))
    if is_paper_model:
        covered = {(row.method, row.tier) for row in rows}
        for method, budget in paper_by_row:
            if method in layout.methods and (method, budget) not in covered:
                rows.append(Row(method, None, budget, {}, [], [], [], None, None))

    columns = layout.columns
    omitted: tuple[str, ...] = ()
    if not is_paper_model:  # on another model, leave out tasks it has no record of (the paper's model shows all)
        present = {task for row in rows for task in row.records}
        omitted = tuple(t for t in layout.tasks if t not in present)
        columns = tuple(c for c in columns if c.task in present or (c.task == "all" and not omitted))

    table = Table(layout, model, columns, rows, omitted_tasks=omitted)
    for row in rows:
        _fill(row, table, paper_by_row)
    tier_groups = {}
    for row in rows:
        if row.group is not None and row.tier is not None:
            tier_groups[row.tier] = min(tier_groups.get(row.tier, row.group.sort_key), row.group.sort_key)
    rows.sort(key=lambda row: _row_order(layout, row, tier_groups))
    table.comparisons = _comparisons(table, own)
    table.notes = [(f"{method_name(row.method)} {row.tier or '—'}", col.header, value.note)
                   for row in rows for col, value in zip(columns, row.paper) if value is not None and value.note]
    for row in rows:
        for task in sorted(row.records):
            recs = row.records[task]
            keys = differing_settings(recs) if len(recs) > 1 else []
            if keys:
                table.mixed.append((f"{model}/{task}/{row.method}/{row.budget_label}", keys))
    return table


def _fill(row: Row, table: Table, paper_by_row) -> None:
    paper_row = paper_by_row.get((row.method, row.tier), {}) if row.tier is not None else {}
    for col in table.columns:
        row.ours.append(_ours(row, col, table.layout))
        value = paper_row.get((col.task, col.metric))
        row.paper.append(value)
        ours = row.ours[-1]
        ok = table.is_paper_model and table.layout.difference and ours is not None and value is not None
        row.diff.append(ours.mean - value.number if ok else None)
    counts = [adapted_params(r.data) for r in row.all_records()]
    counts = [c for c in counts if c is not None]
    row.params = sum(counts) / len(counts) if counts else None
    row.paper_params = next((v.params for v in paper_row.values() if v.params), None) if paper_row else None


def _ours(row: Row, col: Column, layout: Layout) -> Summary | None:
    if col.task != "all":
        values = [metric_value(r.data, col.metric) for r in row.records.get(col.task, [])]
        return summarize([v for v in values if v is not None])
    # Table 1's "All": per seed, the mean over the tasks of each task's mean; over the seeds that ran every task
    by_task = {task: {r.seed: r for r in row.records.get(task, [])} for task in layout.tasks}
    seeds = set.intersection(*(set(s) for s in by_task.values())) if by_task else set()
    per_seed = []
    for seed in sorted(seeds):
        scores = [task_score(by_task[task][seed].data, [c.metric for c in layout.columns if c.task == task])
                  for task in layout.tasks]
        if all(s is not None for s in scores):
            per_seed.append(sum(scores) / len(scores))
    return summarize(per_seed)


def _row_order(layout: Layout, row: Row, tier_groups: dict):
    """Rows without a budget first, then the paper's budget levels in its order, then other budgets; a paper row
    that no record reached sits with the records of its level, in the paper's method order."""
    if row.tier == "":
        tier_pos = -1
    elif row.tier in layout.tiers:
        tier_pos = layout.tiers.index(row.tier)
    else:
        tier_pos = len(layout.tiers)
    group = row.group.sort_key if row.group is not None else tier_groups.get(row.tier, (-1, 0.0, ""))
    return (tier_pos, group, layout.methods.index(row.method))


def _comparisons(table: Table, own) -> list[Comparison]:
    layout = table.layout
    if layout.focal is None:
        return []
    out = []
    groups = sorted({row.group for row in table.rows if row.group is not None}, key=lambda g: g.sort_key)
    for col in table.columns:
        if col.task == "all":
            continue
        for group in groups:
            focal = own.get((col.task, layout.focal, group.key))
            if not focal:
                continue
            a = _by_seed(focal, col.metric)
            for other in layout.methods:
                recs = own.get((col.task, other, group.key))
                if other == layout.focal or not recs:
                    continue
                test = paired(a, _by_seed(recs, col.metric))
                if test is not None:
                    out.append(Comparison(col, group, layout.focal, other, test))
    for comparison, test in zip(out, with_holm([c.test for c in out])):   # Holm over the table's family
        comparison.test = test
    return out


def _by_seed(records: list[Record], metric: str) -> dict[int, float]:
    values = {r.seed: metric_value(r.data, metric) for r in records}
    return {s: v for s, v in values.items() if v is not None}
