"""Claims: one process at a time runs a given cell, however many sweeps share a results folder.

Before training, a run claims its record path by creating `<record>.claim` with O_CREAT | O_EXCL (atomic on local
file systems and on NFSv3+), holding the host, pid and start time. While it runs, a daemon thread touches the file
every `HEARTBEAT_S` seconds. A second process that finds the claim skips the cell ("being run by ..."); the record
the first one writes, atomically, is the cell's only record. The claim is removed when the run ends, however it
ends (record written, error, preemption).

A claim is stale, and taken over, when its holder is gone: the same host and its pid no longer exists, or (another
host) no heartbeat for `STALE_AFTER_S` seconds, e.g. a node that died with the job. Taking over renames the stale
file to a unique name first (only one contender's rename succeeds), then claims afresh with O_EXCL.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path

log = logging.getLogger("runners")

HEARTBEAT_S = 30.0
STALE_AFTER_S = 600.0
SUFFIX = ".claim"


def claim_path(record_path: Path) -> Path:
    return record_path.with_name(record_path.name + SUFFIX)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder(path: Path) -> dict | None:
    """Who holds the claim at `path` (its JSON, with `age_s` since the last heartbeat), or None if there is none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # being written right now, or garbage: judge it by its age alone
        try:
            data, age = {}, time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return None
    return {**(data if isinstance(data, dict) else {}), "age_s": age}


def is_stale(info: dict) -> bool:
    if info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int):
        return not _alive(info["pid"]) or info["age_s"] > STALE_AFTER_S
    return info["age_s"] > STALE_AFTER_S


class Claim:
    """A held claim: `release()` (or leaving the `with` block) removes it and stops the heartbeat."""

    def __init__(self, path: Path, token: str) -> None:
        self.path, self.token = path, token
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"claim-heartbeat-{path.name}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        self._stop.set()
        info = holder(self.path)
        if info is not None and info.get("token") == self.token:  # never remove a claim someone took over
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _create(path: Path) -> Claim | None:
    token = uuid.uuid4().hex
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"host": socket.gethostname(), "pid": os.getpid(), "token": token,
                   "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, f)
        f.flush()
        os.fsync(f.fileno())
    return Claim(path, token)


def _remove_cut_writes(record_path: Path) -> None:
    """The temporary files of record writes cut short (`.seed1.json.<random>.tmp`, records.write_json_atomic): only
    the claim's holder writes this record, so any such file now is a dead process's."""
    for tmp in record_path.parent.glob(f".{record_path.name}.*.tmp"):
        tmp.unlink(missing_ok=True)
        log.warning("removed %s, left by a record write that was cut short", tmp)


def try_claim(record_path: Path) -> Claim | dict:
    """The claim on this record's cell, or the JSON of the live process that holds it."""
    path = claim_path(record_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        got = _create(path)
        if got is not None:
            _remove_cut_writes(record_path)
            return got
        info = holder(path)
        if info is None:  # released between our two calls: try again
            continue
        if not is_stale(info):
            return info
        aside = path.with_name(f"{path.name}.stale-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(path, aside)  # one contender wins this rename; the others find no file or a fresh claim
        except FileNotFoundError:
            continue
        log.warning("taking over the stale claim %s (holder %s pid %s, no heartbeat for %.0f s)", path,
                    info.get("host"), info.get("pid"), info["age_s"])
        aside.unlink(missing_ok=True)
    return holder(path) or {}
