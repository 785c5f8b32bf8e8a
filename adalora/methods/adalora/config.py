"""The AdaLoRA method spec. Field names are shared with `conf/method/adalora.yaml`."""
from __future__ import annotations

from dataclasses import dataclass

from .. import validation

IMPORTANCE = ("sensitivity_uncertainty", "sensitivity", "magnitude")


@dataclass
class AdaLoRA:
    """AdaLoRA (Zhang et al., ICLR 2023) exactly as the official code runs it (ALGORITHM.md §1-5).

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
        `SVDRankSelector` with beta2 outside (0, 1)) scores Ī (ALGORITHM.md §3), so we follow the code.
    reg_form: "code" (mean over the 2n matrices of unsquared Frobenius norms, the official code) or "paper"
        (eq. 4: sum of squared norms). The paper's gamma values belong to the code form.
    score_weights: "post" scores the post-update weights (the official code) or "pre" (the paper's Algorithm 1:
        the weights before this step's update, times the same gradient).
    allocate: False keeps every triplet (SVD-LoRA, Table 5: SVD form + regulariser, no allocation); the
        schedule fields are then unused, and a budget sets init_rank = target_rank = r.
    slice_final: once the final phase fixes the rank pattern, cut P, Λ, Q and their optimizer state down to the
        kept triplets, so the final phase trains at the target size (not in the official code or PEFT; off by
        default: the pruned triplets then leave the regulariser and the clipping norm, see model.py).
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
    slice_final: bool = False

    def __post_init__(self) -> None:
        validation.allocation(self, IMPORTANCE, unit="triplet")
