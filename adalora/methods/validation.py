"""Checks the method specs share: each raises AdaLoRAError with one line that names the field and what it takes.
Integer fields are normalised in place (a YAML 12.0 becomes 12)."""
from __future__ import annotations

from ..errors import AdaLoRAError  # noqa: F401 - re-exported for the specs

REG_FORMS = ("code", "paper")   # the orthogonal regulariser's two forms (ALGORITHM.md §2)
SCORE_WEIGHTS = ("post", "pre")


def positive_int(spec, name: str, what: str = "") -> None:
    value = getattr(spec, name)
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise AdaLoRAError(f"{name}={value} must be a positive integer{f' ({what})' if what else ''}")
    setattr(spec, name, int(value))


def one_of(spec, name: str, options) -> None:
    if getattr(spec, name) not in options:
        raise AdaLoRAError(f"{name}={getattr(spec, name)!r} is not one of {', '.join(options)}")


def dropout(spec) -> None:
    if not 0 <= spec.dropout < 1:
        raise AdaLoRAError(f"dropout={spec.dropout} must lie in [0, 1)")


def regulariser(spec) -> None:
    if spec.orth_reg_weight < 0:
        raise AdaLoRAError(f"orth_reg_weight={spec.orth_reg_weight} must be >= 0")
    one_of(spec, "reg_form", REG_FORMS)


def allocation(spec, importance: tuple[str, ...], unit: str) -> None:
    """The specs that prune rank-one components on AdaLoRA's schedule (AdaLoRA, PruneLoRA)."""
    positive_int(spec, "init_rank")
    allocate = getattr(spec, "allocate", True)
    if allocate and spec.target_total_rank is None and not (0 < spec.target_rank < spec.init_rank):
        raise AdaLoRAError(f"target_rank={spec.target_rank} must be at least 1 and below init_rank={spec.init_rank}: "
                           f"{type(spec).__name__} prunes {unit}s from the initial rank down to the target")
    if spec.target_total_rank is not None and spec.target_total_rank < 1:
        raise AdaLoRAError(f"target_total_rank={spec.target_total_rank} must be at least 1")
    for name in ("beta1", "beta2"):
        if not 0 < getattr(spec, name) < 1:
            raise AdaLoRAError(f"{name}={getattr(spec, name)} must lie strictly between 0 and 1")
    regulariser(spec)
    dropout(spec)
    positive_int(spec, "delta_t", "steps between masking")
    one_of(spec, "importance", importance)
    one_of(spec, "score_weights", SCORE_WEIGHTS)


def adapter(spec, activations, inits) -> None:
    """The two adapter specs (Houlsby, Pfeiffer)."""
    positive_int(spec, "dim", "the adapter's bottleneck width")
    one_of(spec, "activation", tuple(activations))
    one_of(spec, "init", inits)
    if spec.init_std <= 0:
        raise AdaLoRAError(f"init_std={spec.init_std} must be positive")
