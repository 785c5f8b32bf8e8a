"""`adalora.attach(model, spec)`: adapt a model in place with the method a spec describes."""
from __future__ import annotations

from torch import nn

from .errors import AdaLoRAError
from .handle import Handle
from .methods.adalora.config import AdaLoRA
from .methods.adalora.model import attach_adalora
from .methods.bitfit.config import BitFit
from .methods.bitfit.model import attach_bitfit
from .methods.full.config import Full
from .methods.full.model import attach_full
from .methods.houlsby.config import Houlsby
from .methods.houlsby.model import attach_houlsby
from .methods.lora.config import LoRA
from .methods.lora.model import attach_lora
from .methods.pfeiffer.config import Pfeiffer
from .methods.pfeiffer.model import attach_pfeiffer
from .methods.prune_lora.config import PruneLoRA
from .methods.prune_lora.model import attach_prune_lora

ATTACHERS = {AdaLoRA: attach_adalora, LoRA: attach_lora, PruneLoRA: attach_prune_lora, Houlsby: attach_houlsby,
             Pfeiffer: attach_pfeiffer, BitFit: attach_bitfit, Full: attach_full}


def attach(model: nn.Module, spec) -> Handle:
    """Adapt `model` in place (freezing what the method freezes) and return the method's handle."""
    attacher = ATTACHERS.get(type(spec))
    if attacher is None:
        known = ", ".join(cls.__name__ for cls in ATTACHERS)
        raise AdaLoRAError(f"{type(spec).__name__} is not a method spec; use one of {known}")
    return attacher(model, spec)
