"""Batching many small adapter matrices: layers whose adapters have the same shapes are processed as one
stacked tensor, so per-step work costs a few kernel launches per shape group instead of a few per matrix."""
from __future__ import annotations

from collections.abc import Hashable, Sequence


def group_indices(keys: Sequence[Hashable]) -> list[list[int]]:
    """Indices of equal keys, groups in order of first appearance."""
    groups: dict[Hashable, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    return list(groups.values())
