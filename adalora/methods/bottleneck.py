"""The bottleneck both adapter methods insert (Houlsby et al., 2019; Pfeiffer et al., 2021), as the official
AdaLoRA repository builds its baselines (ALGORITHM.md §8): Linear(width -> dim) -> activation -> Linear(dim -> width),
both with bias. It returns the bottleneck's output only; the method adds it where it belongs.

Initialisation. The official DeBERTa fork creates the adapters inside the model, so HF's `_init_weights` gives
both projections N(0, 0.02²) weights and zero biases (ALGORITHM.md §8, derived, not verified). Then the adapter is not
zero at init and the adapted model's outputs differ from the pretrained model's from step 0. The suite's rule is
that every method starts exactly at the pretrained function (Δ = 0 at init, ALGORITHM.md §17 item 1), so by default the
up-projection starts at zero ("zero": down ~ N(0, init_std²), up = 0, zero biases), as LoRA's B = 0 does;
"normal" is the official path's N(0, init_std²) for both projections, for a faithful replication.
"""
from __future__ import annotations

import torch
from torch import nn

from ..backbone import freeze_all_but_head
from ..handle import Handle
from ..families import adapter_sites, site_width
from ..targets import set_submodule

ACTIVATIONS = {"swish": nn.SiLU, "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}
INITS = ("zero", "normal")


def adapter_dtype(reference: torch.dtype) -> torch.dtype:
    """Adapters train in fp32 (fp64 beside an fp64 model), whatever precision the frozen model runs in."""
    return reference if reference == torch.float64 else torch.float32


class Bottleneck(nn.Module):
    def __init__(self, width: int, dim: int, activation: str, init: str = "zero", init_std: float = 0.02,
                 device=None, dtype=torch.float32) -> None:
        super().__init__()
        self.down = nn.Linear(width, dim, device=device, dtype=dtype)
        self.act = ACTIVATIONS[activation]()
        self.up = nn.Linear(dim, width, device=device, dtype=dtype)
        self.reset_parameters(init, init_std)

    @torch.no_grad()
    def reset_parameters(self, init: str = "zero", init_std: float = 0.02) -> None:
        nn.init.normal_(self.down.weight, mean=0.0, std=init_std)
        nn.init.zeros_(self.down.bias)
        if init == "zero":
            nn.init.zeros_(self.up.weight)
        else:
            nn.init.normal_(self.up.weight, mean=0.0, std=init_std)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.act(self.down(x.to(self.down.weight.dtype)))).to(x.dtype)


class AdapterHandle(Handle):
    """The handle of both adapter methods: `layers` maps each insertion point to its wrapper."""

    def __init__(self, model: nn.Module, spec, layers: dict[str, nn.Module], method: str) -> None:
        super().__init__(model, spec)
        self.layers = layers
        self.method = method

    def adapter_parameters(self) -> list[nn.Parameter]:
        return [p for layer in self.layers.values() for p in layer.adapter.parameters()]


def insert_adapters(model: nn.Module, method: str, spec, wrap) -> dict[str, nn.Module]:
    """Freeze the backbone, then put a Bottleneck at each of the family's `method` insertion points;
    `wrap(site_module, bottleneck)` builds the module that replaces the site. Returns {site name: wrapper}."""
    sites = adapter_sites(model, method)
    freeze_all_but_head(model)
    fallback = next(model.parameters())
    layers = {}
    for name, module in sites:
        reference = next(module.parameters(), fallback)
        adapter = Bottleneck(site_width(model, module), spec.dim, spec.activation, spec.init, spec.init_std,
                             device=reference.device, dtype=adapter_dtype(reference.dtype))
        wrapper = wrap(module, adapter)
        set_submodule(model, name, wrapper)
        layers[name] = wrapper
    return layers
