"""Result records from results/runs/**, grouped into table cells: model x task x method x budget.

Records whose status is not `ok` are skipped and counted; files that are not records are listed. Two budget
labels that name the same amount ("300k", "0.3M") share a cell; a run without a budget label is grouped by
the sizes it ran (its method config's), and a method without a size (full fine-tuning, BitFit) has none.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from adalora import AdaLoRAError, parse_budget

from ..keys import NOT_HASHED
from ..records import read_record

RECORD_KEYS = ("task", "model", "method", "seed", "status")


@dataclass(frozen=True)
class BudgetGroup:
    """The budget a record ran at, as one cell of a table groups it."""

    kind: str          # "share" | "count" | "sizes" | "none"
    amount: float      # the share or count (0 for "sizes" and "none"), for ordering
    ident: str         # with kind, what makes two groups the same
    label: str         # how a table shows it

    @property
    def key(self) -> tuple:
        return (self.kind, self.ident)

    @property
    def slug(self) -> str:
        text = "none" if self.kind == "none" else self.label.replace("%", "pct")
        return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")

    @property
    def sort_key(self) -> tuple:
        return ({"none": 0, "share": 1, "count": 2, "sizes": 3}[self.kind], self.amount, self.ident)


NO_BUDGET = BudgetGroup("none", 0.0, "", "—")


def budget_group(budget: dict | None) -> BudgetGroup:
    budget = budget or {}
    label = budget.get("label")
    if label:
        try:
            parsed = parse_budget(label)
        except AdaLoRAError:
            return BudgetGroup("sizes", 0.0, f"label {label}", str(label))
        if parsed.share is not None:
            return BudgetGroup("share", parsed.share, repr(round(parsed.share, 12)), parsed.label)
        return BudgetGroup("count", float(parsed.count), str(parsed.count), parsed.label)
    sizes = budget.get("sizes") or {}
    if sizes:
        text = ", ".join(f"{k} {v}" for k, v in sorted(sizes.items()))
        return BudgetGroup("sizes", 0.0, text, text)
    return NO_BUDGET


@dataclass(frozen=True)
class Record:
    path: str          # relative to the runs folder, with forward slashes
    data: dict
    group: BudgetGroup

    @property
    def model(self) -> str:
        return str(self.data["model"])

    @property
    def task(self) -> str:
        return str(self.data["task"])

    @property
    def method(self) -> str:
        return str(self.data["method"])

    @property
    def seed(self) -> int:
        return int(self.data["seed"])

    @property
    def sizes(self) -> dict:
        return (self.data.get("budget") or {}).get("sizes") or {}

    @property
    def label(self) -> str | None:
        return (self.data.get("budget") or {}).get("label")


CellKey = tuple  # (model, task, method, BudgetGroup.key)


@dataclass
class Collection:
    records: list[Record] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)       # (path, status) of records not ok
    unreadable: list[tuple[str, str]] = field(default_factory=list)    # (path, why)
    duplicates: list[tuple[str, str]] = field(default_factory=list)    # (path dropped, path kept): same cell and seed
    cells: dict[CellKey, list[Record]] = field(default_factory=dict)   # each sorted by seed
    groups: dict[tuple, BudgetGroup] = field(default_factory=dict)     # BudgetGroup.key -> the group

    def models(self) -> list[str]:
        return sorted({r.model for r in self.records})


def collect(runs_dir: Path) -> Collection:
    runs_dir = Path(runs_dir)
    found = Collection()
    paths = sorted(runs_dir.rglob("*.json")) if runs_dir.is_dir() else []
    by_cell: dict[CellKey, dict[int, Record]] = defaultdict(dict)
    for path in paths:
        rel = path.relative_to(runs_dir).as_posix()
        data = read_record(path)
        if data is None:
            found.unreadable.append((rel, "not a result record (invalid JSON, or not a JSON object)"))
            continue
        missing = [k for k in RECORD_KEYS if k not in data]
        if missing or not isinstance(data.get("seed"), int):
            found.unreadable.append((rel, f"not a result record (no {missing[0] if missing else 'integer seed'})"))
            continue
        if data["status"] != "ok":
            found.skipped.append((rel, str(data["status"])))
            continue
        record = Record(rel, data, budget_group(data.get("budget")))
        cell = (record.model, record.task, record.method, record.group.key)
        kept = by_cell[cell].get(record.seed)
        if kept is not None:
            found.duplicates.append((rel, kept.path))
            continue
        by_cell[cell][record.seed] = record
        found.records.append(record)
        found.groups.setdefault(record.group.key, record.group)
    found.cells = {cell: [seeds[s] for s in sorted(seeds)] for cell, seeds in sorted(by_cell.items(), key=_cell_order)}
    return found


def _cell_order(item):
    (model, task, method, (kind, ident)), _ = item
    return (model, task, method, kind, ident)


def differing_settings(records: list[Record]) -> list[str]:
    """Settings (dotted config keys) whose values differ between a cell's records, apart from the seed and
    what cannot change a result (where results go, logging, evaluation batch size)."""
    flat = [_flatten(r.data.get("config") or {}) for r in records]
    keys = sorted(set().union(*flat)) if flat else []
    ignored = set(NOT_HASHED) | {"seed"}
    out = []
    for key in keys:
        if any(key == i or key.startswith(i + ".") for i in ignored):
            continue
        if len({repr(f.get(key)) for f in flat}) > 1:
            out.append(key)
    return out


def _flatten(tree, prefix: str = "") -> dict:
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: tree}
