"""The paper's numbers: results/paper/*.csv, one tidy row per reported value (results/paper/README.md)."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ("table", "model", "task", "method", "variant", "method_label", "budget", "params", "metric",
           "metric_label", "value", "note")


class PaperDataError(ValueError):
    """results/paper/ cannot be read; the message names the file and what to fix."""


@dataclass(frozen=True)
class PaperValue:
    table: str
    model: str
    task: str
    method: str
    variant: str
    method_label: str
    budget: str          # the suite's budget label for the row; "" where the method has none
    params: str          # "#Params" as the paper prints it
    metric: str
    metric_label: str
    value: str           # as printed (trailing zeros kept)
    note: str

    @property
    def number(self) -> float:
        return float(self.value)


def load_paper(folder: Path) -> list[PaperValue]:
    folder = Path(folder)
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise PaperDataError(f"{folder} holds no paper tables (*.csv): restore results/paper/ from git")
    values = []
    for path in files:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if tuple(reader.fieldnames or ()) != COLUMNS:
                raise PaperDataError(f"{path} has columns {reader.fieldnames}; expected {', '.join(COLUMNS)}")
            for line, row in enumerate(reader, start=2):
                try:
                    float(row["value"])
                except ValueError:
                    raise PaperDataError(f"{path} line {line}: value {row['value']!r} is not a number") from None
                values.append(PaperValue(**{c: row[c] for c in COLUMNS}))
    return values
