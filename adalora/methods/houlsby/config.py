"""The Houlsby adapter spec (Houlsby et al., 2019) as the AdaLoRA paper's baseline "HAdapter" (spec §8)."""
from __future__ import annotations

from dataclasses import dataclass

from ...errors import AdaLoRAError
from ..bottleneck import ACTIVATIONS, INITS


def check_adapter_fields(spec) -> None:
    if int(spec.dim) != spec.dim or spec.dim < 1:
        raise AdaLoRAError(f"dim={spec.dim} must be a positive integer (the adapter's bottleneck width)")
    if spec.activation not in ACTIVATIONS:
        raise AdaLoRAError(f"activation={spec.activation!r} is not one of {', '.join(ACTIVATIONS)}")
    if spec.init not in INITS:
        raise AdaLoRAError(f"init={spec.init!r} is not one of {', '.join(INITS)}")
    if spec.init_std <= 0:
        raise AdaLoRAError(f"init_std={spec.init_std} must be positive")
    spec.dim = int(spec.dim)


@dataclass
class Houlsby:
    """Two bottleneck adapters per transformer layer: after the attention output and after the FFN output, each
    h -> h + up(act(down(h))), placed before the sublayer's residual LayerNorm (the model family says where;
    see `adalora.families`). Only the adapters (and the task head) train; LayerNorms stay frozen.

    dim: bottleneck width d; an adapter on width w holds (2w + 1) d + w parameters (both projections with bias).
    activation: "swish" in the paper's runs.
    init: "zero" (default) starts the up-projection at zero, so the adapted model equals the pretrained one at
        step 0; "normal" draws it from N(0, init_std²) as HF's `_init_weights` did in the official fork (spec §8).
        See `adalora.methods.bottleneck`.
    """

    dim: int = 8
    activation: str = "swish"
    init: str = "zero"
    init_std: float = 0.02

    def __post_init__(self) -> None:
        check_adapter_fields(self)
