"""The IncreLoRA spec (Zhang et al., 2023, "IncreLoRA: Incremental Parameter Allocation Method for
Parameter-Efficient Fine-tuning", arXiv 2308.12043), a rank-allocating successor of AdaLoRA that adds rank instead of
pruning it. Field names are shared with `conf/method/increlora.yaml`."""
from __future__ import annotations

from dataclasses import dataclass

from .. import validation

RESTART_SCHEDULES = ("warmup", "authors")
SCORE_NORMS = ("sqrt", "mean")


@dataclass
class IncreLoRA:
    """SVD-like updates ΔW = P Λ Q per matrix (paper §3, the reconstructed LoRA: ΔW = Σ_i w_i with rank-one
    w_i = P_i λ_i Q_i), every matrix starting at `start_rank` components; every `delta_t` steps after `t_init` the
    `top_h` matrices with the highest importance score get `rank_step` more components, until the budget b(T) is
    reached (§3, incremental parameter allocation; details from the authors' code, see model.py). The score of
    a matrix is AdaLoRA's smoothed sensitivity x uncertainty (Ī x Ū, AdaLoRA eq. 8-10 with beta1 / beta2) of its
    update matrix: I = Σ_ij |ΔW_ij ∂L/∂ΔW_ij| / sqrt(out x in) (the authors' code; score_norm="mean" divides by
    out x in, an average over the matrix's entries). Added components are trained before they are added ("advance
    learning": P_i, Q_i train beside the active ones with λ_i held at `reserve_lambda`), and every added
    component restarts a learning-rate warm-up of its own ("restart warmup").

    Sizes (a budget label sets target_rank and init_rank exactly as for AdaLoRA, adalora.sizes.TargetRank):
    init_rank: r_max, the most rank one matrix can reach. The layers hold init_rank components from the start;
        those not active (nor reserved for advance learning) are held at zero and change nothing.
    target_rank / target_total_rank: the final budget b(T) = target_rank x n matrices (or target_total_rank), the
        total active rank at the end of the run, reached exactly (AdaLoRA's final size).
    start_rank: active components per matrix at step 0 (the authors' `lora_r`, 1 in all their scripts).

    Schedule: t_init (steps, or a share of the run below 1): no rank is added up to it (the authors' init_warmup);
    delta_t: rank is added at the steps t > t_init with t % delta_t == 0 (incre_interval); top_h: matrices chosen per
    addition; rank_step: components added to each chosen matrix (incre_rank_num; None = the authors' default,
    half the average target rank: 1 for r̄ = 2, 4 for r̄ = 8). The last addition that fits in
    the run adds whatever is left of the budget, so the run always ends at b(T).

    advance_learning: reserve components (rank_step per matrix, P and Q trained, λ fixed at reserve_lambda = 1e-5 as
        in the authors' code) that become the matrix's next components; False adds fresh components
        (P, Q ~ N(0, init_std²), λ = 0) instead.
    restart_warmup: steps of each added component's own linear warm-up (0: none). restart_schedule: "warmup"
        multiplies the run's learning rate by min(1, (k + 1) / restart_warmup) for the component's k-th update;
        "authors" gives the component the authors' own schedule, base_lr x (warm-up, then linear decay to zero at T),
        whatever the run's schedule (needs an optimizer whose groups carry `initial_lr`, as a torch LR scheduler
        sets it; else it falls back to "warmup").
    alpha: the update is scaled by alpha / (active rank + 1e-5), the authors' `ranknum` (so adding rank rescales).
    orth_reg_weight / reg_form: AdaLoRA's orthogonal regulariser over the live (active and reserve) components.
    """

    init_rank: int = 12
    target_rank: int = 8
    target_total_rank: int | None = None
    start_rank: int = 1
    alpha: float = 32.0
    targets: list[str] | str | None = None
    dropout: float = 0.0
    init_std: float = 0.02
    t_init: int | float = 0.1
    delta_t: int = 10
    top_h: int = 6
    rank_step: int | None = None
    beta1: float = 0.85
    beta2: float = 0.85
    score_norm: str = "sqrt"
    orth_reg_weight: float = 0.1
    reg_form: str = "code"
    advance_learning: bool = True
    reserve_lambda: float = 1.0e-5
    restart_warmup: int | float = 0.1
    restart_schedule: str = "warmup"
    total_steps: int | None = None

    def __post_init__(self) -> None:
        validation.positive_int(self, "init_rank")
        validation.positive_int(self, "start_rank")
        validation.positive_int(self, "delta_t", "steps between rank additions")
        validation.positive_int(self, "top_h", "matrices that get rank per addition")
        if self.rank_step is not None:
            validation.positive_int(self, "rank_step", "components added to a chosen matrix")
        if self.start_rank > self.init_rank:
            raise validation.AdaLoRAError(f"start_rank={self.start_rank} must be at most init_rank={self.init_rank}")
        if self.target_total_rank is None and not self.start_rank <= self.target_rank <= self.init_rank:
            raise validation.AdaLoRAError(f"target_rank={self.target_rank} must lie between start_rank="
                                          f"{self.start_rank} and init_rank={self.init_rank}: IncreLoRA grows every "
                                          f"matrix from start_rank towards the average target_rank")
        if self.target_total_rank is not None and self.target_total_rank < 1:
            raise validation.AdaLoRAError(f"target_total_rank={self.target_total_rank} must be at least 1")
        for name in ("beta1", "beta2"):
            if not 0 < getattr(self, name) < 1:
                raise validation.AdaLoRAError(f"{name}={getattr(self, name)} must lie strictly between 0 and 1")
        validation.regulariser(self)
        validation.dropout(self)
        if self.reserve_lambda < 0:
            raise validation.AdaLoRAError(f"reserve_lambda={self.reserve_lambda} must be >= 0")
        validation.one_of(self, "restart_schedule", RESTART_SCHEDULES)
        validation.one_of(self, "score_norm", SCORE_NORMS)
