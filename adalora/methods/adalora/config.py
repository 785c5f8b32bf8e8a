"""The AdaLoRA method spec. Field names are shared with `conf/method/adalora.yaml`."""
from __future__ import annotations

from dataclasses import dataclass

from .. import validation

IMPORTANCE = ("sensitivity_uncertainty", "sensitivity", "magnitude", "lower_confidence", "fisher")


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
        Beyond the paper (ALGORITHM.md §15): "lower_confidence" scores s = max(Ī - kappa * Ū, 0), a lower confidence
        bound: an entry whose sensitivity varies a lot from batch to batch is trusted *less*, where the paper's
        product Ī * Ū trusts it more; "fisher" scores the smoothed squared sensitivity, EMA of (w * g)², the
        empirical-Fisher estimate of the loss increase ½ F w² when w is zeroed (a second-order, information-based
        score; no uncertainty term).
    importance_kappa: kappa of "lower_confidence" (how many Ū below Ī an entry is scored).
    reactivation: False (the paper, the official code): a masked triplet's λ is 0, so its sensitivity |λ ∂L/∂λ|
        and its P, Q entries' (whose gradients carry the factor λ) are 0 and it practically never returns. True:
        a masked triplet keeps a score of its own, the sensitivity it would have at a typical size,
        |λ_ref ∂L/∂λ_i| with λ_ref the mean |λ| of the matrix's kept triplets (∂L/∂λ_i is not zero while λ_i is),
        smoothed like every entry's; it competes with the kept triplets at every masking step before the final
        phase, so the budget is still met exactly. A returning triplet restarts from λ_i = 0 with its P and Q
        columns as they were (they received no task-loss gradient while masked) and its statistics as smoothed.
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
    importance_kappa: float = 1.0
    reactivation: bool = False

    def __post_init__(self) -> None:
        validation.allocation(self, IMPORTANCE, unit="triplet")
        if self.importance_kappa < 0:
            raise validation.AdaLoRAError(f"importance_kappa={self.importance_kappa} must be >= 0")
