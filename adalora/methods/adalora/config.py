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
    importance: "sensitivity_uncertainty" (the paper), "sensitivity" (s = Ī, Table 4) or "magnitude" (S = |λ|).
    reg_form: "code" (mean over the 2n matrices of unsquared Frobenius norms, the official code) or "paper"
        (eq. 4: sum of squared norms).
    score_weights: "post" scores the post-update weights (the official code) or "pre" (the paper's Algorithm 1).
    allocate: False keeps every triplet (SVD-LoRA, Table 5: SVD form + regulariser, no allocation).
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
        if int(self.init_rank) != self.init_rank or self.init_rank < 1:
            raise AdaLoRAError(f"init_rank={self.init_rank} must be a positive integer")
        if self.allocate and self.target_total_rank is None and not (0 < self.target_rank < self.init_rank):
            raise AdaLoRAError(f"target_rank={self.target_rank} must be at least 1 and below init_rank={self.init_rank}: "
                               f"AdaLoRA prunes from the initial rank down to the target")
        if self.target_total_rank is not None and self.target_total_rank < 1:
            raise AdaLoRAError(f"target_total_rank={self.target_total_rank} must be at least 1")
        for name in ("beta1", "beta2"):
            if not 0 < getattr(self, name) < 1:
                raise AdaLoRAError(f"{name}={getattr(self, name)} must lie strictly between 0 and 1")
        if self.orth_reg_weight < 0:
            raise AdaLoRAError(f"orth_reg_weight={self.orth_reg_weight} must be >= 0")
        if not 0 <= self.dropout < 1:
            raise AdaLoRAError(f"dropout={self.dropout} must lie in [0, 1)")
        if int(self.delta_t) != self.delta_t or self.delta_t < 1:
            raise AdaLoRAError(f"delta_t={self.delta_t} must be a positive integer (steps between masking)")
        if self.importance not in IMPORTANCE:
            raise AdaLoRAError(f"importance={self.importance!r} is not one of {', '.join(IMPORTANCE)}")
        if self.reg_form not in REG_FORMS:
            raise AdaLoRAError(f"reg_form={self.reg_form!r} is not one of {', '.join(REG_FORMS)}")
        if self.score_weights not in SCORE_WEIGHTS:
            raise AdaLoRAError(f"score_weights={self.score_weights!r} is not one of {', '.join(SCORE_WEIGHTS)}")
        self.init_rank = int(self.init_rank)
        self.delta_t = int(self.delta_t)
