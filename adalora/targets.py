"""Which modules a method adapts. `targets` works as in PEFT: a list of module-name suffixes (a name matches
when it equals the suffix or ends with "." + suffix), or one regular expression matched against the full name.

Targets are nn.Linear layers, or transformers' Conv1D (GPT-2), which computes x W + b with W stored in x out: it
is found as a `TransposedLinear`, the nn.Linear it computes, whose weight is a frozen view of the Conv1D's (no
copy). An adapted layer built on it replaces the Conv1D in the model; its base weight then reads out x in, like
every other adapted layer's (a merged GPT-2 saved with save_pretrained needs its c_* weights transposed back)."""
from __future__ import annotations

import re
from collections.abc import Sequence

from torch import nn

from .errors import AdaLoRAError
from .families import family_of


def _matches(name: str, targets: str | Sequence[str]) -> bool:
    if isinstance(targets, str):
        return re.fullmatch(targets, name) is not None
    return any(name == t or name.endswith("." + t) for t in targets)


def find_linear_targets(model: nn.Module, targets: str | Sequence[str], *, exclude: Sequence[str] = ()) -> list[tuple[str, nn.Linear]]:
    """The (name, Linear) pairs that `targets` selects, in module order.

    Modules under `exclude` (name prefixes, e.g. a classification head) are never adapted."""
    if not targets:
        raise AdaLoRAError("no target modules given: pass targets=[...] (module-name suffixes) or a regular expression")
    found, wrong_type = [], []
    for name, module in model.named_modules():
        if not name or not _matches(name, targets):
            continue
        if any(name == p or name.startswith(p + ".") for p in exclude):
            continue
        if isinstance(module, nn.Linear):
            found.append((name, module))
        elif _is_conv1d(module):
            found.append((name, TransposedLinear(module)))
        elif not isinstance(targets, str):  # a regular expression may sweep past containers; a suffix names a layer
            wrong_type.append(f"{name} ({type(module).__name__})")
    if wrong_type:
        raise AdaLoRAError(f"targets {targets!r} match modules that are not nn.Linear (or Conv1D): {', '.join(wrong_type[:3])}; "
                           f"name the Linear layers inside them (e.g. '<name>.dense')")
    if not found:
        raise AdaLoRAError(f"no module matched the targets {targets!r} in {type(model).__name__}; "
                           f"module names look like {_example_names(model)}")
    return found


def _is_conv1d(module: nn.Module) -> bool:
    return type(module).__name__ == "Conv1D" and getattr(module, "weight", None) is not None and module.weight.dim() == 2


class TransposedLinear(nn.Linear):
    """transformers' Conv1D (y = x W + b, W in x out) as the nn.Linear it computes (weight out x in): the weight is a
    transposed view of the Conv1D's, frozen (adapters train beside it), the bias the same Parameter. Its weight is
    stored in x out in the model (PEFT's `fan_in_fan_out`), which the PEFT export says."""

    fan_in_fan_out = True

    def __init__(self, conv: nn.Module) -> None:
        nn.Module.__init__(self)
        self.in_features, self.out_features = conv.weight.shape
        self.weight = nn.Parameter(conv.weight.detach().t(), requires_grad=False)
        self.bias = conv.bias


def _example_names(model: nn.Module) -> str:
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) or _is_conv1d(m)]
    return ", ".join(names[:4]) + (", ..." if len(names) > 4 else "") if names else "(the model has no Linear layers)"


def set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def default_targets(model: nn.Module, targets: str | Sequence[str] | None) -> str | list[str]:
    """The given targets, or the model family's six matrix types when none are given."""
    if targets:
        return targets if isinstance(targets, str) else list(targets)
    family = family_of(model)
    if family is None:
        raise AdaLoRAError(f"{type(model).__name__} is not a model family the suite knows (BERT, DeBERTa-v2/v3, BART): "
                           f"pass targets=[...] naming the Linear layers to adapt")
    return list(family.targets)
