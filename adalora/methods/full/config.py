"""The full fine-tuning spec: the AdaLoRA paper's "Full FT" row (ALGORITHM.md §8)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Full:
    """Train every parameter of the model, backbone and head; all of them are counted (the official
    `run_glue.py` counts every parameter when no method is selected). A budget label does not apply."""
