"""Checkpoints that are complete or absent, and finding the last good one on restart.

A checkpoint is written into a staging folder next to the run's checkpoints (`.staging/checkpoint-N`), closed with
a manifest (`checkpoint.json`: the step and every file's size and SHA-256), and only then renamed to
`checkpoint-N`. A process killed while saving leaves a staging folder (ignored, and removed by the next save) and
never a half-written `checkpoint-N`.

On restart, `last_good_checkpoint` walks the checkpoints newest first and takes the first whose files match its
manifest. One that does not (a file truncated, altered or missing; a folder written before manifests existed that
cannot be read) is moved to `<output_dir>/corrupt/` with a warning, so the next restart never meets it again: a
bad checkpoint costs the steps since the one before it, never a crash loop.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from pathlib import Path

log = logging.getLogger("runners")

MANIFEST = "checkpoint.json"
STAGING = ".staging"
CORRUPT_DIR = "corrupt"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def staging_folder(final: Path) -> Path:
    return final.parent / STAGING / final.name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_manifest(folder: Path, step: int) -> None:
    """Close a staged checkpoint: fsync every file, then write the manifest (atomically, last)."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        with open(path, "rb") as f:
            os.fsync(f.fileno())
        files[path.relative_to(folder).as_posix()] = {"size": path.stat().st_size, "sha256": _sha256(path)}
    tmp = folder / f".{MANIFEST}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"complete": True, "step": step, "files": files}, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / MANIFEST)
    _fsync_dir(folder)


def publish(staging: Path, final: Path) -> None:
    """Move a closed staging folder to its final name. A checkpoint of the same step from an earlier attempt (a run
    that resumed before it and reached it again) is replaced."""
    if final.exists():
        old = final.parent / STAGING / f"old-{final.name}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, final)
    _fsync_dir(final.parent)


def problem(folder: Path) -> str | None:
    """Why `folder` is not a checkpoint to resume from, or None if it is good."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return _legacy_problem(folder)
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        files = data["files"]
        if not data.get("complete") or not isinstance(files, dict):
            return "its manifest is incomplete"
    except (OSError, ValueError, KeyError, TypeError):
        return "its manifest cannot be read"
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != expected.get("size"):
            return f"{name} has {path.stat().st_size} bytes, the manifest says {expected.get('size')}"
        if _sha256(path) != expected.get("sha256"):
            return f"{name} does not match its checksum"
    return None


def _legacy_problem(folder: Path) -> str | None:
    """A folder without a manifest: written before manifests existed, or by a save that was cut short. Good only if
    everything in it reads."""
    if not (folder / "trainer_state.json").is_file():
        return f"it has no {MANIFEST} and no trainer_state.json (a save cut short)"
    try:
        json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
        import safetensors.torch
        import torch

        for path in folder.iterdir():
            if path.suffix == ".safetensors":
                safetensors.torch.load_file(str(path))
            elif path.suffix in (".pt", ".pth", ".bin"):
                torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unreadable file makes the checkpoint unusable
        return f"it has no {MANIFEST} and does not read ({type(err).__name__})"
    return None


def checkpoints(output_dir: Path) -> list[Path]:
    """The run's checkpoint folders, newest (highest step) first."""
    if not output_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in output_dir.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def set_aside(folder: Path, reason: str) -> Path:
    """Move a bad checkpoint out of the way (kept for inspection), so it is never tried again."""
    target = folder.parent / CORRUPT_DIR / f"{folder.name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(folder, target)
    log.warning("checkpoint %s is unusable (%s); moved it to %s", folder, reason, target)
    return target


def last_good_checkpoint(output_dir: Path, tidy: bool = True) -> Path | None:
    """The newest checkpoint that is complete and intact. Bad ones on the way are set aside with a warning when
    `tidy` (the main process of a DDP run; the other ranks only skip them, so they pick the same checkpoint)."""
    for folder in checkpoints(output_dir):
        reason = problem(folder)
        if reason is None:
            return folder
        if tidy:
            set_aside(folder, reason)
        else:
            log.warning("checkpoint %s is unusable (%s); skipping it", folder, reason)
    return None
