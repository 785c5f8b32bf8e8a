"""The AdaLoRA method library: pure PyTorch, no Hydra, datasets or W&B.

    import adalora
    handle = adalora.attach(model, adalora.AdaLoRA(init_rank=12, target_rank=8, alpha=32, t_init=0.1,
                                                   t_final=0.4, delta_t=10, total_steps=T))
    loss = task_loss + handle.regularizer(); loss.backward(); optimizer.step()
    handle.step(t); optimizer.zero_grad()

    adalora.save_adapter(model, handle, "adapter/")      # safetensors + spec + rank pattern (+ resumable state)
    adalora.export_peft(model, handle, "peft-adapter/")  # peft.PeftModel.from_pretrained(base, "peft-adapter/")
    adalora.merge(model); adalora.unmerge(model)          # fold the updates into the base weights and back

    spec, resolution = adalora.build_spec("adalora", budget="0.3%", model=model)   # a budget sizes any method

Baselines (ALGORITHM.md §8) attach the same way: adalora.LoRA(rank=2), adalora.Houlsby(dim=8), adalora.Pfeiffer(dim=16),
adalora.BitFit(), adalora.Full().
"""
from .attach import attach, build_spec, spec_fields
from .budget import Budget, Resolution, method_parameters, parse_budget, resolve_budget
from .errors import AdaLoRAError
from .handle import Handle
from .merging import is_merged, merge, unmerge
from .methods.adalora.config import AdaLoRA
from .methods.adalora.layer import SVDLinear
from .methods.bitfit.config import BitFit
from .methods.full.config import Full
from .methods.houlsby.config import Houlsby
from .methods.increlora.config import IncreLoRA
from .methods.lora.config import LoRA
from .methods.lora.layer import LoRALinear
from .methods.pfeiffer.config import Pfeiffer
from .methods.prune_lora.config import PruneLoRA
from .methods.sora.config import SoRA
from .peft_export import export_peft
from .registry import Method, method, methods, register
from .saving import load_adapter, load_state, save_adapter, save_state

__all__ = ["AdaLoRA", "AdaLoRAError", "BitFit", "Budget", "Full", "Handle", "Houlsby", "IncreLoRA", "LoRA",
           "LoRALinear", "Method", "Pfeiffer", "PruneLoRA", "Resolution", "SVDLinear", "SoRA", "attach", "build_spec",
           "export_peft", "is_merged", "load_adapter", "load_state", "merge", "method", "method_parameters", "methods",
           "parse_budget", "register", "resolve_budget", "save_adapter", "save_state", "spec_fields", "unmerge"]
