"""The Houlsby adapter spec (Houlsby et al., 2019) as the AdaLoRA paper's baseline "HAdapter" (ALGORITHM.md §8)."""
from __future__ import annotations

from dataclasses import dataclass

from .. import validation
from ..bottleneck import ACTIVATIONS, INITS


@dataclass
class Houlsby:
    """Two bottleneck adapters per transformer layer: after the attention output and after the FFN output, each
    h -> h + up(act(down(h))), placed before the sublayer's residual LayerNorm (the model family says where;
    see `adalora.families`). Only the adapters (and the task head) train; LayerNorms stay frozen.

    dim: bottleneck width d; an adapter on width w holds (2w + 1) d + w parameters (both projections with bias).
    activation: "swish" in the paper's runs.
    init: "zero" (default) starts the up-projection at zero, so the adapted model equals the pretrained one at
        step 0; "normal" draws it from N(0, init_std²) as HF's `_init_weights` did in the official fork (ALGORITHM.md §8).
        See `adalora.methods.bottleneck`.
    """

    dim: int = 8
    activation: str = "swish"
    init: str = "zero"
    init_std: float = 0.02

    def __post_init__(self) -> None:
        validation.adapter(self, ACTIVATIONS, INITS)
