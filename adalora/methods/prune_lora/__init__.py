"""Prune-LoRA (paper Table 4): LoRA doublets pruned with AdaLoRA's scores and schedule, sized like AdaLoRA (a
target rank r̄ from an initial rank) but without λ."""
from ...registry import Method, register
from ...sizes import TargetRank
from .config import PruneLoRA
from .model import attach_prune_lora

METHOD = register(Method(name="prune-lora", spec=PruneLoRA, attach=attach_prune_lora,
                         size=TargetRank(singular_values=False),
                         summary="LoRA pruned doublet by doublet on AdaLoRA's schedule"))
