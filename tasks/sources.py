"""Where a task's data comes from: the Hub (datasets with parquet data, pinned revisions), or local files in
the task's original format (GLUE TSV, ...) or in the Hub's schema (JSONL / parquet).

Local files are found in `data_dir` by conventional names, or named per split with `data_files`.
Every problem ends in a DataError naming the path and what was expected.
"""
from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import datasets

from .errors import DataError
from .hub import hub_failure

HUB_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}

csv.field_size_limit(sys.maxsize)


def load_from_hub(hub_id: str, config: str | None, revision: str | None,
                  local: str = "pass task.data_dir=DIR with the task's files") -> datasets.DatasetDict:
    try:
        return datasets.load_dataset(hub_id, config, revision=revision)
    except Exception as err:  # offline, unknown id, no network: say what is missing and what to do instead
        name = f"{hub_id} (config {config})" if config else hub_id
        raise DataError(hub_failure("dataset", name, revision, err, local)) from err


def read_tsv(path: Path, header: bool) -> tuple[list[str] | None, list[list[str]]]:
    """Rows of a GLUE TSV: tab-separated, no quoting (GLUE's sentences contain quotes). A UTF-8 byte-order mark
    is dropped: MRPC's files start with one (GLUE copied the header of Microsoft's msr_paraphrase_*.txt)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}") from err
    rows = [r for r in rows if r and any(cell.strip() for cell in r)]
    if not rows or (header and len(rows) < 2):
        raise DataError(f"{path} holds no rows")
    return (rows[0], rows[1:]) if header else (None, rows)


def column(header: Sequence[str] | None, name_or_index: str | int, path: Path) -> int:
    if isinstance(name_or_index, int):
        return name_or_index
    if header is None or name_or_index not in header:
        raise DataError(f"{path} has no column {name_or_index!r}; its header is {list(header or [])}")
    return header.index(name_or_index)


def load_hub_schema_file(path: Path, split: str) -> datasets.Dataset:
    fmt = HUB_FORMATS.get(path.suffix)
    if fmt is None:
        raise DataError(f"{path}: unknown file type {path.suffix!r}; use .tsv (original format), .jsonl or .parquet")
    try:
        return datasets.load_dataset(fmt, data_files={split: str(path)}, split=split)
    except Exception as err:
        where = first_bad_json_line(path) if path.suffix == ".jsonl" else None
        if where:
            raise DataError(f"{path} {where}; every line must be one JSON object") from None
        raise DataError(f"cannot read {path} as {fmt}: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from err


def first_bad_json_line(path: Path) -> str | None:
    """Where a JSONL file stops being JSON lines ('line 7 is not valid JSON (...)'), or None if every line is an
    object. Only called after the fast reader failed, to say where."""
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as err:
                    return f"line {number} is not valid JSON ({str(err).splitlines()[0]})"
                if not isinstance(row, dict):
                    return f"line {number} is not a JSON object"
    except UnicodeDecodeError as err:
        return f"is not UTF-8 text ({err.reason} at byte {err.start})"
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    return None


def require_columns(ds: datasets.Dataset, need: Sequence[str], path: Path, task: str) -> None:
    absent = [k for k in need if k not in ds.column_names]
    if absent:
        raise DataError(f"{path} has no column {absent[0]!r}; {task} needs columns {list(need)} "
                        f"(it has {ds.column_names})")


def read_json(path: Path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}") from err
    except ValueError as err:
        raise DataError(f"{path} is not valid JSON ({str(err).splitlines()[0]})") from err


def find_split_files(data_dir: str | None, data_files: Mapping[str, str] | None,
                     candidates: Mapping[str, Sequence[str]], what: str) -> dict[str, Path]:
    """The file of each split: `data_files[split]` when given, else the first of `candidates[split]` that exists
    in `data_dir` (original format first, then the Hub schema)."""
    found: dict[str, Path] = {}
    data_files = dict(data_files or {})
    for split, names in candidates.items():
        if split in data_files and data_files[split]:
            path = Path(data_files[split]).expanduser()
            if not path.is_file():
                raise DataError(f"task.data_files.{split}={path} does not exist")
            found[split] = path
            continue
        if data_dir is None:
            continue
        root = Path(data_dir).expanduser()
        if not root.is_dir():
            raise DataError(f"task.data_dir={root} is not a folder; it should hold {what}")
        for name in names:
            if (root / name).is_file():
                found[split] = root / name
                break
    return found


def load_splits(cfg, *, task: str, splits: Sequence[str], hub: tuple[str, str | None, str | None],
                candidates: Mapping[str, Sequence[str]], what: str, read: Callable[[Path, str], datasets.Dataset],
                from_hub: Callable[[datasets.Dataset], datasets.Dataset] = lambda ds: ds) -> datasets.DatasetDict:
    """A task's raw splits: from local files when `cfg.data_dir` or any `cfg.data_files.<split>` is set (found by
    `candidates`, read by `read(path, split)`), otherwise from the Hub (`hub` = default id, config, revision, each
    overridable by cfg.hub_id / hub_config / revision)."""
    data_dir, data_files = cfg.get("data_dir"), cfg.get("data_files") or {}
    if data_dir is None and not any(data_files.get(s) for s in data_files):
        hub_id, hub_config, revision = hub
        raw = load_from_hub(cfg.get("hub_id") or hub_id, cfg.get("hub_config", hub_config), cfg.get("revision", revision),
                            local=f"pass task.data_dir=DIR with {what}")
        absent = [s for s in splits if s not in raw]
        if absent:
            raise DataError(f"{cfg.get('hub_id') or hub_id} has no split {absent[0]!r} (it has {', '.join(raw)})")
        return datasets.DatasetDict({s: from_hub(raw[s]) for s in splits})
    files = find_split_files(data_dir, data_files, candidates, what)
    missing = [s for s in splits if s not in files]
    if missing:
        where = data_dir if data_dir else "task.data_files"
        raise DataError(f"{where} has no {missing[0]} split for {task}: expected "
                        f"{' or '.join(candidates[missing[0]])} (or task.data_files.{missing[0]}=FILE)")
    return datasets.DatasetDict({s: read(path, s) for s, path in files.items()})
