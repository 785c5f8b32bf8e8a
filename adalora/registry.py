"""The methods the library knows: one registered record per method, made in the method's own folder.

    # adalora/methods/lora/__init__.py
    register(Method(name="lora", spec=LoRA, attach=attach_lora, size=Rank()))

A record holds everything the suite needs to know about a method: its spec class, how it attaches, how a budget
sizes it (`adalora.sizes`; which paper-table column it reads, so Prune-LoRA is sized like AdaLoRA), its
parameter count and its record slug. Nothing outside the method's folder lists method names. A method outside the
library registers the same way when its module is imported (the runner imports a method config's `module:`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import AdaLoRAError
from .sizes import Size

_METHODS: dict[str, "Method"] = {}


@dataclass(frozen=True)
class Method:
    name: str                                        # as configs, records and paths name it ("prune-lora")
    spec: type                                       # the spec dataclass (adalora.PruneLoRA)
    attach: Callable[[Any, Any], Any]                # (model, spec) -> Handle
    size: Size | Callable[[Mapping], Size]           # how a budget sizes it; a callable picks by the spec's fields
    summary: str = ""                                # one line for listings

    def size_for(self, fields: Mapping | Any = None) -> Size:
        """The size rule for these spec fields (a mapping or a spec): SVD-LoRA is AdaLoRA with allocate=False,
        sized like LoRA."""
        if isinstance(self.size, Size):
            return self.size
        if fields is not None and dataclasses.is_dataclass(fields):
            fields = dataclasses.asdict(fields)
        return self.size(fields or {})

    def settings(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self.spec)]


def register(method: Method) -> Method:
    """Add a method (again under the same name replaces it: a module reloaded in a notebook)."""
    if not dataclasses.is_dataclass(method.spec):
        raise AdaLoRAError(f"method {method.name!r}: its spec {method.spec!r} must be a dataclass")
    _METHODS[method.name] = method
    return method


def _builtin() -> None:
    from . import methods  # noqa: F401 - importing the package registers every built-in method


def method(name: str) -> Method:
    """The registered method of that name."""
    _builtin()
    found = _METHODS.get(name)
    if found is None:
        raise AdaLoRAError(f"unknown method {name!r}: choose one of {', '.join(sorted(_METHODS))}")
    return found


def methods() -> dict[str, Method]:
    _builtin()
    return dict(_METHODS)


def method_of(spec) -> Method:
    """The registered method whose spec class `spec` is an instance of (the first registered, for shared classes)."""
    _builtin()
    for found in _METHODS.values():
        if type(spec) is found.spec:
            return found
    known = ", ".join(sorted({m.spec.__name__ for m in _METHODS.values()}))
    raise AdaLoRAError(f"{type(spec).__name__} is not a method spec; use one of {known}")
