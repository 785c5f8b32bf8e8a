"""Saving and loading adapters in safetensors, with the spec, the rank pattern and (optionally) the method's
resumable state.

    adalora.save_adapter(model, handle, "out/adapter")
    handle = adalora.load_adapter(fresh_base_model, "out/adapter")    # attaches the saved spec, loads the weights

A folder holds:
- `adapter_model.safetensors`: the method's parameters and the trainable head, under their names in the model
  (e.g. `bert.encoder.layer.0.attention.self.query.lora_E`, `classifier.weight`). SVD-form layers are saved at
  their initial rank (pruned triplets included, λ = 0), so training can resume from the folder.
- `adalora_config.json`: the spec (its class and fields), the adapted modules, the rank pattern (kept rank per
  matrix) and the keep mask per matrix (a list of bools of length init_rank).
- `method_state.safetensors` (unless include_state=False): `handle.state_dict()` (allocator statistics, masks,
  step), flattened to tensors with the rest of the structure in the file's metadata.

`adalora.export_peft` writes PEFT's own format instead.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import torch
from torch import nn

from . import registry
from .attach import attach
from .backbone import head_parameters
from .errors import AdaLoRAError

WEIGHTS = "adapter_model.safetensors"
CONFIG = "adalora_config.json"
STATE = "method_state.safetensors"
FORMAT = "adalora-suite-adapter"
VERSION = 1


# --- the handle state in safetensors -------------------------------------------------------------------------
def _flatten(obj, key: str, tensors: dict[str, torch.Tensor]):
    if isinstance(obj, torch.Tensor):
        tensors[key] = obj.detach().contiguous().cpu()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise AdaLoRAError(f"state at {key or 'the top'} has non-string keys; it cannot be saved as safetensors")
        return {k: _flatten(v, f"{key}.{k}" if key else k, tensors) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_flatten(v, f"{key}.{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise AdaLoRAError(f"state at {key} holds a {type(obj).__name__}; only tensors, numbers, strings, lists and "
                       f"dicts can be saved as safetensors")


def _unflatten(skeleton, tensors: dict[str, torch.Tensor]):
    if isinstance(skeleton, dict):
        if set(skeleton) == {"__tensor__"}:
            return tensors[skeleton["__tensor__"]]
        return {k: _unflatten(v, tensors) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [_unflatten(v, tensors) for v in skeleton]
    return skeleton


def save_state(state: dict, path: str | Path) -> None:
    """A handle's `state_dict()` as one safetensors file (tuples come back as lists)."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    skeleton = _flatten(state, "", tensors)
    _atomic(Path(path), lambda tmp: save_file(tensors, str(tmp), metadata={"skeleton": json.dumps(skeleton)}))


def load_state(path: str | Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        skeleton = json.loads((f.metadata() or {}).get("skeleton", "null"))
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if skeleton is None:
        raise AdaLoRAError(f"{path} is not a method state written by adalora.save_state")
    return _unflatten(skeleton, tensors)


# --- adapters -----------------------------------------------------------------------------------------------
def _atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def saved_parameters(model: nn.Module, handle) -> dict[str, nn.Parameter]:
    """The parameters an adapter folder holds: the method's own plus the trainable head, by name in `model`."""
    wanted = {id(p) for p in handle.adapter_parameters()}
    wanted |= {id(p) for p in head_parameters(model) if p.requires_grad}
    return {name: p for name, p in model.named_parameters() if id(p) in wanted}


def save_adapter(model: nn.Module, handle, directory: str | Path, *, include_state: bool = True) -> Path:
    """Write the adapter folder described above; returns its path."""
    from safetensors.torch import save_file

    if getattr(handle, "model", model) is not model:
        raise AdaLoRAError("the handle belongs to another model: pass the model you attached it to")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    params = saved_parameters(model, handle)
    if any(getattr(layer, "merged", False) for layer in getattr(handle, "layers", {}).values()):
        raise AdaLoRAError("the adapters are merged into the base weights: call adalora.unmerge(model) before saving")
    tensors = {name: p.detach().contiguous().cpu() for name, p in params.items()}
    config = {
        "format": FORMAT,
        "version": VERSION,
        "method": handle.method,
        "spec_class": type(handle.spec).__name__,
        "spec": dataclasses.asdict(handle.spec),
        "modules": list(getattr(handle, "layers", {})),
        "rank_pattern": handle.rank_pattern(),
        "rank_mask": handle.rank_mask() if hasattr(handle, "rank_mask") else None,
        "parameters": sorted(tensors),
    }
    _atomic(directory / WEIGHTS, lambda tmp: save_file(tensors, str(tmp), metadata={"format": "pt"}))
    if include_state:
        save_state(handle.state_dict(), directory / STATE)
    elif (directory / STATE).exists():
        (directory / STATE).unlink()  # never leave another run's state beside these weights
    _atomic(directory / CONFIG, lambda tmp: tmp.write_text(json.dumps(config, indent=2) + "\n"))
    return directory


def adapter_folder(directory: str | Path) -> Path:
    """The adapter folder itself, or the `adapter/` folder inside a run's output folder (where every finished run
    of the suite writes its adapter)."""
    directory = Path(directory)
    if not (directory / CONFIG).is_file() and (directory / "adapter" / CONFIG).is_file():
        return directory / "adapter"
    return directory


def read_adapter_config(directory: str | Path) -> dict:
    path = adapter_folder(directory) / CONFIG
    if not path.is_file():
        raise AdaLoRAError(f"{directory} holds no adapter ({CONFIG} is missing); save one with adalora.save_adapter")
    config = json.loads(path.read_text())
    if config.get("format") != FORMAT:
        raise AdaLoRAError(f"{path} is not an adapter written by adalora.save_adapter")
    return config


def spec_from_config(config: dict):
    classes = {m.spec.__name__: m.spec for m in registry.methods().values()}
    cls = classes.get(config["spec_class"])
    if cls is None:
        raise AdaLoRAError(f"the adapter was saved with method spec {config['spec_class']!r}, which this version does "
                           f"not know; known: {', '.join(classes)}")
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in config["spec"].items() if k in known})


@torch.no_grad()
def load_adapter(model: nn.Module, directory: str | Path, handle=None, *, include_state: bool = True):
    """Load an adapter folder into `model` and return its handle.

    `directory` is an adapter folder or a run's output folder (its `adapter/`). Without `handle`, the saved spec
    is attached to `model` first (a fresh base model); with one, the folder must hold the same method on the same
    modules. The method state is restored when the folder has one."""
    from safetensors.torch import load_file

    directory = adapter_folder(directory)
    config = read_adapter_config(directory)
    if handle is None:
        handle = attach(model, spec_from_config(config))
    elif handle.method != config["method"]:
        raise AdaLoRAError(f"{directory} holds a {config['method']} adapter but the handle is {handle.method}")
    modules = list(getattr(handle, "layers", {}))
    if modules != config["modules"]:
        missing = sorted(set(config["modules"]) ^ set(modules))
        raise AdaLoRAError(f"{directory} was saved from different modules than this model adapts "
                           f"(e.g. {missing[0] if missing else 'the same modules in another order'}); load it into "
                           f"the same architecture with the same targets")
    tensors = load_file(str(directory / WEIGHTS))
    handle.prepare_load(config, {name: tuple(t.shape) for name, t in tensors.items()})  # a sliced adapter: cut first
    params = dict(model.named_parameters())
    for name, tensor in tensors.items():
        p = params.get(name)
        if p is None:
            raise AdaLoRAError(f"{directory} holds {name}, which this model does not have; load it into the model "
                               f"architecture it was saved from")
        if p.shape != tensor.shape:
            raise AdaLoRAError(f"{name} is {tuple(tensor.shape)} in {directory} but {tuple(p.shape)} in the model; "
                               f"the adapter was saved with other ranks or another model size")
        p.copy_(tensor)
    state_path = directory / STATE
    if include_state and state_path.is_file():
        handle.load_state_dict(load_state(state_path))
    elif config.get("rank_mask") and hasattr(handle, "set_rank_mask"):
        handle.set_rank_mask(config["rank_mask"], apply=False)
    return handle

