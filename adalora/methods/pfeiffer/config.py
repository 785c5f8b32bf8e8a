"""The Pfeiffer adapter spec (Pfeiffer et al., 2021) as the AdaLoRA paper's baseline "PAdapter" (ALGORITHM.md §8)."""
from __future__ import annotations

from dataclasses import dataclass

from .. import validation
from ..bottleneck import ACTIVATIONS, INITS


@dataclass
class Pfeiffer:
    """One bottleneck adapter per transformer layer, after the FFN. With h the FFN output (after dense and
    dropout) and x the sublayer's input, the adapter reads LN(h + x), its output a is added to h, and the result
    goes through the same LayerNorm with x again: LN(h + a + x) (the official DeBERTa fork, ALGORITHM.md §8). Only the
    adapters (and the task head) train; the LayerNorm stays frozen.

    dim: bottleneck width d; an adapter on width w holds (2w + 1) d + w parameters (both projections with bias).
    activation: "relu" in the paper's runs.
    init: "zero" (default) starts the up-projection at zero, so the adapted model equals the pretrained one at
        step 0; "normal" draws it from N(0, init_std²) as HF's `_init_weights` did in the official fork (ALGORITHM.md §8).
    """

    dim: int = 16
    activation: str = "relu"
    init: str = "zero"
    init_std: float = 0.02

    def __post_init__(self) -> None:
        validation.adapter(self, ACTIVATIONS, INITS)
