"""The BitFit spec (Ben Zaken et al., 2022) as the AdaLoRA paper's baseline (ALGORITHM.md §8)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BitFit:
    """Train every parameter whose name contains "bias" inside the pretrained backbone (LayerNorm biases
    included, as the official `run_glue.py` selects them by name), plus the task head; freeze the rest.
    Its size is fixed by the model: a budget label does not apply."""
