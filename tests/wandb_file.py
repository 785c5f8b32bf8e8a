"""Reads a W&B run file (`run-*.wandb`) the way W&B writes it, for tests that check what a run logged.

The file is a 7-byte header (":W&B", magic, version) followed by a LevelDB-style log: 32 KiB blocks of chunks, each
with a 7-byte header (CRC32, little-endian length, type: 1 full, 2 first, 3 middle, 4 last); a record may span
blocks. Each record is a `wandb_internal_pb2.Record`. Reading it properly (instead of searching the raw bytes) keeps
the tests right whatever the file's size and wherever a record falls.
"""
import json
import time
from pathlib import Path

BLOCK = 32 * 1024
HEADER = b":W&B"


def records(path: Path) -> list:
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == HEADER, f"{path} is not a W&B run file"
    out, pending, pos = [], b"", 7
    while pos + 7 <= len(data):
        room = BLOCK - pos % BLOCK
        if room < 7:  # the block's tail is padding
            pos += room
            continue
        length = int.from_bytes(data[pos + 4:pos + 6], "little")
        kind = data[pos + 6]
        if kind == 0 and length == 0:  # zero padding up to the block's end
            pos += room
            continue
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 2):
            pending = chunk
        else:
            pending += chunk
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(pending)
            out.append(record)
            pending = b""
    return out


def finished_records(path: Path, timeout: float = 30.0) -> list:
    """The file's records once its exit record is there (W&B's writer may still be flushing just after finish)."""
    deadline = time.monotonic() + timeout
    while True:
        found = records(path) if Path(path).exists() and Path(path).stat().st_size >= 7 else []
        if any(r.WhichOneof("record_type") == "exit" for r in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def logged(found: list, key: str) -> list:
    """Every value logged under `key`, in history rows and summary updates, in file order."""
    values = []
    for record in found:
        kind = record.WhichOneof("record_type")
        items = record.history.item if kind == "history" else record.summary.update if kind == "summary" else []
        for item in items:
            name = item.key or "/".join(item.nested_key)
            if name == key:
                values.append(json.loads(item.value_json))
    return values


def describe(found: list) -> str:
    """What the file holds, for an assertion message."""
    return ", ".join(r.WhichOneof("record_type") or "?" for r in found)


def run_record(found: list):
    return next(r.run for r in found if r.WhichOneof("record_type") == "run")
