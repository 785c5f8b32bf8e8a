"""The AdaLoRA method spec. Field names are shared with `conf/method/adalora.yaml`."""
from __future__ import annotations

from dataclasses import dataclass

from ...errors import AdaLoRAError

IMPORTANCE = ("sensitivity_uncertainty", "sensitivity", "magnitude")
REG_FORMS = ("code", "paper")
SCORE_WEIGHTS = ("post", "pre")


@dataclass
class AdaLoRA:
    """AdaLoRA (Zhang et al., ICLR 2023) exactly as the official code runs it (spec §1-5).

    init_rank / target_rank: r per matrix at the start, and the average final rank r̄ (b(T) = r̄ x n matrices,
        unless target_total_rank gives b(T) directly).
    alpha: scaling numerator; the update is scaled by alpha / init_rank for the whole run (pruning never rescales).
    targets: module-name suffixes or one regular expression; None = the model family's six matrix types.
    t_init / t_final / delta_t: warm-up steps, final fine-tuning steps, masking interval. An integer is a step
        count, a float below 1 a share of the total steps.
    beta1 / beta2: EMA coefficients of sensitivity and uncertainty.
    orth_reg_weight: gamma of the orthogonal regulariser.
    total_steps: optimizer steps of the run; a trainer sets it before step 0 (`handle.set_total_steps`).
    importance: "sensitivity_uncertainty" (the paper: s = Ī * Ū), "sensitivity" (Table 4's s(.) = I(.)) or
        "magnitude" (Table 4's S_i = |λ_i|). "sensitivity" scores the *smoothed* Ī, not the raw step's I: the paper
        does not say which it ran, and the official research code's only sensitivity-only path (its
        `SVDRankSelector` with beta2 outside (0, 1)) scores Ī (spec §3), so we follow the code.
    reg_form: "code" (mean over the 2n matrices of unsquared Frobenius norms, the official code) or "paper"
        (eq. 4: sum of squared norms). The paper's gamma values belong to the code form.
    score_weights: "post" scores the post-update weights (the official code) or "pre" (the paper's Algorithm 1:
        the weights before this step's update, times the same gradient).
    allocate: False keeps every triplet (SVD-LoRA, Table 5: SVD form + regulariser, no allocation); the
        schedule fields are then unused, and a budget sets init_rank = target_rank = r.
    """

    init_rank: int = 12
    target_rank: int = 8
    alpha: float = 32.0
    targets: list[str] | str | None = None
    t_init: int | float = 0.1
    t_final: int | float = 0.4
    delta_t: int = 10
    beta1: float = 0.85
    beta2: float = 0.85
    orth_reg_weight: float = 0.1
    total_steps: int | None = None
    target_total_rank: int | None = None
    dropout: float = 0.0
    init_std: float = 0.02
    importance: str = "sensitivity_uncertainty"
    reg_form: str = "code"
    score_weights: str = "post"
    allocate: bool = True

    def __post_init__(self) -> None:
        check_allocation_fields(self, IMPORTANCE, unit="triplet")


def check_allocation_fields(spec, importance: tuple[str, ...], unit: str) -> None:
    """Validation shared by the specs that prune rank-one components on AdaLoRA's schedule (AdaLoRA, PruneLoRA).
    Normalises the integer fields in place."""
    if isinstance(spec.init_rank, bool) or int(spec.init_rank) != spec.init_rank or spec.init_rank < 1:
        raise AdaLoRAError(f"init_rank={spec.init_rank} must be a positive integer")
    allocate = getattr(spec, "allocate", True)
    if allocate and spec.target_total_rank is None and not (0 < spec.target_rank < spec.init_rank):
        raise AdaLoRAError(f"target_rank={spec.target_rank} must be at least 1 and below init_rank={spec.init_rank}: "
                           f"{type(spec).__name__} prunes {unit}s from the initial rank down to the target")
    if spec.target_total_rank is not None and spec.target_total_rank < 1:
        raise AdaLoRAError(f"target_total_rank={spec.target_total_rank} must be at least 1")
    for name in ("beta1", "beta2"):
        if not 0 < getattr(spec, name) < 1:
            raise AdaLoRAError(f"{name}={getattr(spec, name)} must lie strictly between 0 and 1")
    if spec.orth_reg_weight < 0:
        raise AdaLoRAError(f"orth_reg_weight={spec.orth_reg_weight} must be >= 0")
    if not 0 <= spec.dropout < 1:
        raise AdaLoRAError(f"dropout={spec.dropout} must lie in [0, 1)")
    if int(spec.delta_t) != spec.delta_t or spec.delta_t < 1:
        raise AdaLoRAError(f"delta_t={spec.delta_t} must be a positive integer (steps between masking)")
    if spec.importance not in importance:
        raise AdaLoRAError(f"importance={spec.importance!r} is not one of {', '.join(importance)}")
    if spec.reg_form not in REG_FORMS:
        raise AdaLoRAError(f"reg_form={spec.reg_form!r} is not one of {', '.join(REG_FORMS)}")
    if spec.score_weights not in SCORE_WEIGHTS:
        raise AdaLoRAError(f"score_weights={spec.score_weights!r} is not one of {', '.join(SCORE_WEIGHTS)}")
    spec.init_rank = int(spec.init_rank)
    spec.delta_t = int(spec.delta_t)
