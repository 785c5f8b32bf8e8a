"""Result records: one JSON file per run, written atomically (a temporary file in the same folder, fsync,
rename), so a reader never sees half a record and a crash never leaves one."""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from .errors import ConfigError

SCHEMA_VERSION = 1
REQUIRED = ("task", "model", "method", "seed", "status", "budget", "params", "metrics", "rank_pattern", "steps",
            "wall_time_s", "config", "versions", "git")


def _clean(value):
    """JSON has no NaN/inf: write them as null (a metric that could not be computed)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_json_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(_clean(data), f, indent=2, sort_keys=False, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_record(path: Path) -> dict | None:
    """The record at `path`, or None if there is none or it is not valid JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def check_writable(folder: Path) -> None:
    """Fail before training, with one line, if results cannot be written into `folder`: probed in the folder or,
    where it does not exist yet, in its nearest existing parent (the probe leaves nothing behind, no folder either)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, "not a folder")
        fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ConfigError(f"cannot write results to {folder} ({err.strerror or type(err).__name__}); "
                          f"pass results_dir=DIR with a folder you can write") from None


def prune_empty_folders(folder: Path, stop: Path) -> None:
    """Remove `folder` and its parents up to (not including) `stop` while they are empty: a run that wrote nothing
    leaves no empty record folders behind."""
    folder, stop = Path(folder).resolve(), Path(stop).resolve()
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()
        except OSError:  # not empty, or gone
            return
        folder = folder.parent
