"""IncreLoRA (Zhang et al., 2023, arXiv 2308.12043): SVD-like updates whose rank is *added* where the importance
scores are highest, from a small start up to AdaLoRA's final budget (r̄ x n); sized by a budget label exactly as
AdaLoRA (init_rank = the most rank one matrix can reach, target_rank = r̄)."""
from ...registry import Method, register
from ...sizes import TargetRank
from .config import IncreLoRA
from .model import attach_increlora

METHOD = register(Method(name="increlora", spec=IncreLoRA, attach=attach_increlora, size=TargetRank(),
                         summary="SVD-form adapters that grow rank where importance is highest (IncreLoRA)"))
