"""How a finished run ends, for the tests that kill, preempt or requeue a run and compare its end with an
uninterrupted one: its record and its last checkpoint's trained tensors and method state, compared exactly."""
from __future__ import annotations

import json
from pathlib import Path

import safetensors.torch
import torch

from runners.training import METHOD_STATE, TRAINABLE_WEIGHTS


def end_state(record: Path, checkpoint: Path) -> tuple[dict, dict, dict]:
    """(record, trained tensors, method state) of a run: its record file and its last checkpoint folder."""
    weights = safetensors.torch.load_file(str(checkpoint / TRAINABLE_WEIGHTS))
    method = torch.load(checkpoint / METHOD_STATE, map_location="cpu", weights_only=True)
    return json.loads(record.read_text()), weights, method


def same(a, b) -> bool:
    """Equal to the bit: nested dicts, lists and tensors."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if torch.is_tensor(a):
        return torch.equal(a, b)
    return a == b
