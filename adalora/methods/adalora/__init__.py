"""AdaLoRA (Zhang et al., ICLR 2023): SVD-form updates P Λ Q whose rank is allocated by importance.
SVD-LoRA (Table 5) is this spec with allocate=False: every triplet kept, sized like LoRA."""
from ...registry import Method, register
from ...sizes import Rank, TargetRank
from .config import AdaLoRA
from .model import attach_adalora

ADAPTIVE = TargetRank()
FIXED_RANK = Rank(fields=("init_rank", "target_rank"), singular_values=True)   # SVD-LoRA: r triplets, all kept

METHOD = register(Method(name="adalora", spec=AdaLoRA, attach=attach_adalora,
                         size=lambda fields: FIXED_RANK if fields.get("allocate", True) is False else ADAPTIVE,
                         summary="SVD-form adapters, rank allocated by importance (allocate=false: SVD-LoRA)"))
