"""`adalora.attach(model, spec)`: adapt a model in place with the method a spec describes, and
`adalora.build_spec(method, budget=..., model=..., **fields)`: the spec a method's settings and a budget name."""
from __future__ import annotations

import dataclasses

from torch import nn

from . import registry
from .budget import Resolution, resolve_budget
from .errors import AdaLoRAError
from .handle import Handle


def attach(model: nn.Module, spec) -> Handle:
    """Adapt `model` in place (freezing what the method freezes) and return the method's handle."""
    return registry.method_of(spec).attach(model, spec)


def build_spec(method: str, budget=None, model: nn.Module | None = None, **fields) -> tuple[object, Resolution | None]:
    """The spec of `method` with these fields, at the sizes `budget` names on `model` (the budget wins over the
    fields' sizes; without a budget the fields' sizes, or the spec's defaults, stand). A method whose size the model
    fixes (BitFit, full fine-tuning) ignores the budget: its resolution is None."""
    found = registry.method(method)
    known = found.settings()
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise AdaLoRAError(f"method.{unknown[0]} is not a setting of {method}; its settings are "
                           f"{', '.join(sorted(known)) or 'none'}")
    resolution = None
    if budget is not None and found.size_for(fields).applies:
        if model is None:
            raise AdaLoRAError(f"budget {budget} needs the model to size {method}: pass model=")
        others = {k: v for k, v in fields.items() if k != "targets"}
        resolution = resolve_budget(budget, model, method, targets=fields.get("targets"), **others)
        fields = {**fields, **resolution.sizes}
    return found.spec(**fields), resolution


def spec_fields(spec) -> dict:
    """A spec's fields as a plain dict (what `build_spec` takes back)."""
    return {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
