"""SoRA (Ding et al., EMNLP 2023): LoRA with an L1-sparsified gate per rank component, sized like AdaLoRA (r_max
and the final budget r̄)."""
from ...registry import Method, register
from ...sizes import TargetRank
from .config import SoRA
from .model import attach_sora

METHOD = register(Method(name="sora", spec=SoRA, attach=attach_sora, size=TargetRank(),
                         summary="LoRA with an L1-sparsified gate per rank component (SoRA)"))
