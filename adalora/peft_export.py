"""`adalora.export_peft(model, handle, out_dir)`: an adapter folder in HF PEFT's format, so that
`peft.PeftModel.from_pretrained(base_model, out_dir)` gives the same outputs as our adapted model.

Written without importing PEFT, to the format PEFT 0.21 saves and loads:
- `adapter_config.json`: PEFT's config fields (`peft_type`, `task_type`, ...). The targets are the adapted
  modules' full names (PEFT matches a name exactly or as a suffix), the trainable head goes to `modules_to_save`.
- `adapter_model.safetensors`: keys `base_model.model.<module>.lora_A` etc. with the adapter name left out, as
  PEFT's `get_peft_model_state_dict` writes them; the head as `base_model.model.<head param>`.
- Decoder-only families as well (Llama, Qwen2, GPT-2): GPT-2's Conv1D projections are exported with
  `fan_in_fan_out: true`, as PEFT builds them (tests/test_decoder_families.py reloads each).

AdaLoRA / SVD-LoRA (`ADALORA`): PEFT keeps a `rank_pattern` of `{<module>.lora_E: [bool] * init_r}` and saves
A, E, B sliced to the kept ranks; on load it rebuilds each layer at the kept rank and copies `ranknum` from the
init-rank layer, so the scale stays alpha / init_r (ALGORITHM.md §12). We write the same: the kept set is the allocator's
mask, widened by any λ that is non-zero (between two masking steps a pruned λ can revive), so the exported
update equals the live one exactly. A matrix may keep rank 0 (PEFT allows it since PR #1540).

LoRA, LoRA_regu and Prune-LoRA (`LORA`): A and B at their full rank, scale alpha / r; Prune-LoRA's pruned doublets
are exported as the zero rows/columns they are.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from .backbone import head_parameters
from .errors import AdaLoRAError
from .methods.adalora.config import AdaLoRA
from .methods.lora.config import LoRA
from .methods.prune_lora.config import PruneLoRA

PEFT_CONFIG = "adapter_config.json"
PEFT_WEIGHTS = "adapter_model.safetensors"
PREFIX = "base_model.model."

# transformers class-name endings -> PEFT task types (the PeftModel subclass that from_pretrained builds).
TASK_TYPES = (("ForSequenceClassification", "SEQ_CLS"), ("ForQuestionAnswering", "QUESTION_ANS"),
              ("ForTokenClassification", "TOKEN_CLS"), ("ForConditionalGeneration", "SEQ_2_SEQ_LM"),
              ("ForSeq2SeqLM", "SEQ_2_SEQ_LM"), ("ForCausalLM", "CAUSAL_LM"))


def peft_task_type(model: nn.Module) -> str | None:
    name = type(model).__name__
    return next((task for suffix, task in TASK_TYPES if name.endswith(suffix)), None)


def head_modules(model: nn.Module) -> list[str]:
    """Top-level modules holding the trainable head (PEFT's `modules_to_save`)."""
    head = {id(p) for p in head_parameters(model) if p.requires_grad}
    return [name for name, child in model.named_children() if any(id(p) in head for p in child.parameters())]


def _common(model: nn.Module, handle, peft_type: str) -> dict:
    spec = handle.spec
    return {
        "peft_type": peft_type,
        "task_type": peft_task_type(model),
        "base_model_name_or_path": getattr(getattr(model, "config", None), "_name_or_path", None) or None,
        "revision": None,
        "inference_mode": True,
        "target_modules": list(handle.layers),
        "modules_to_save": head_modules(model) or None,
        "lora_alpha": spec.alpha,
        "lora_dropout": spec.dropout,
        "bias": "none",
        # GPT-2's Conv1D layers store W in x out; PEFT would detect it and warn, the config says it outright
        "fan_in_fan_out": any(getattr(layer, "fan_in_fan_out", False) for layer in handle.layers.values()),
        "init_lora_weights": True,
        "use_rslora": False,
        "use_dora": False,
    }


@torch.no_grad()
def _export_svd(model: nn.Module, handle) -> tuple[dict, dict[str, torch.Tensor]]:
    spec, alloc = handle.spec, handle.allocator
    config = _common(model, handle, "ADALORA")
    if alloc.total_steps is not None and alloc.allocate:
        schedule = {"total_step": alloc.total_steps, "tinit": alloc.t_init, "tfinal": alloc.t_final}
    else:  # PEFT's config insists on a valid schedule even for inference; these values are never used then
        schedule = {"total_step": max(alloc.total_steps or 1, 1), "tinit": 0, "tfinal": 0}
    config.update(init_r=spec.init_rank, target_r=spec.target_rank if alloc.allocate else spec.init_rank,
                  r=8,  # PEFT warns when r != 8: AdaLoRA ignores it in favour of init_r
                  deltaT=spec.delta_t, beta1=spec.beta1, beta2=spec.beta2, orth_reg_weight=spec.orth_reg_weight,
                  **schedule)
    mask = alloc.rank_mask()
    pattern, tensors = {}, {}
    for name, layer in handle.layers.items():
        keep = torch.as_tensor(mask[name], dtype=torch.bool, device=layer.lora_E.device)
        if getattr(alloc, "sliced", False):   # slice_final: the layer holds exactly its kept triplets, in order
            pattern[f"{name}.lora_E"] = keep.tolist()
            tensors.update({f"{PREFIX}{name}.{part}": getattr(layer, part) for part in ("lora_A", "lora_E", "lora_B")})
            continue
        keep |= layer.lora_E.view(-1) != 0
        pattern[f"{name}.lora_E"] = keep.tolist()
        tensors[f"{PREFIX}{name}.lora_A"] = layer.lora_A[keep]
        tensors[f"{PREFIX}{name}.lora_E"] = layer.lora_E[keep]
        tensors[f"{PREFIX}{name}.lora_B"] = layer.lora_B[:, keep]
    config["rank_pattern"] = pattern
    return config, tensors


@torch.no_grad()
def _export_lora(model: nn.Module, handle) -> tuple[dict, dict[str, torch.Tensor]]:
    spec = handle.spec
    config = _common(model, handle, "LORA")
    rank = spec.rank if isinstance(spec, LoRA) else spec.init_rank
    config.update(r=rank, rank_pattern={}, alpha_pattern={})
    tensors = {}
    for name, layer in handle.layers.items():
        tensors[f"{PREFIX}{name}.lora_A.weight"] = layer.lora_A
        tensors[f"{PREFIX}{name}.lora_B.weight"] = layer.lora_B
    return config, tensors


def export_peft(model: nn.Module, handle, out_dir: str | Path) -> Path:
    """Write `adapter_config.json` and `adapter_model.safetensors` that PEFT loads (see the module docstring)."""
    from safetensors.torch import save_file

    if getattr(handle, "model", model) is not model:
        raise AdaLoRAError("the handle belongs to another model: pass the model you attached it to")
    if any(getattr(layer, "merged", False) for layer in getattr(handle, "layers", {}).values()):
        raise AdaLoRAError("the adapters are merged into the base weights: call adalora.unmerge(model) before exporting")
    if isinstance(handle.spec, AdaLoRA):
        config, tensors = _export_svd(model, handle)
    elif isinstance(handle.spec, (LoRA, PruneLoRA)):
        config, tensors = _export_lora(model, handle)
    else:
        raise AdaLoRAError(f"{type(handle.spec).__name__} has no PEFT format to export to; export AdaLoRA, LoRA, "
                           f"LoRA_regu or Prune-LoRA adapters, or use adalora.save_adapter")
    head = {id(p) for p in head_parameters(model) if p.requires_grad}
    for name, p in model.named_parameters():
        if id(p) in head:
            tensors[PREFIX + name] = p
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for path, write in ((out / PEFT_WEIGHTS, lambda tmp: save_file(tensors, str(tmp), metadata={"format": "pt"})),
                        (out / PEFT_CONFIG, lambda tmp: tmp.write_text(json.dumps(config, indent=2) + "\n"))):
        tmp = path.with_name(path.name + ".tmp")
        write(tmp)
        os.replace(tmp, path)
    return out
