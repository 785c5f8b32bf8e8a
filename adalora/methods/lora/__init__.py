"""LoRA (Hu et al., 2022): W x + (alpha / r) B A x on every adapted matrix; LoRA_regu with orth_reg_weight > 0."""
from ...registry import Method, register
from ...sizes import Rank
from .config import LoRA
from .model import attach_lora

METHOD = register(Method(name="lora", spec=LoRA, attach=attach_lora, size=Rank(),
                         summary="low-rank B A updates of fixed rank r"))
