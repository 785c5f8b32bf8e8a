"""The SoRA spec (Ding et al., EMNLP 2023, "Sparse Low-rank Adaptation of Pre-trained Language Models"), a
rank-allocating successor of AdaLoRA. Field names are shared with `conf/method/sora.yaml`."""
from __future__ import annotations

from dataclasses import dataclass

from .. import validation


@dataclass
class SoRA:
    """LoRA with a gate g in R^r between A and B (paper §3.1, eq. 4): ΔW x = s · B diag(g) A x, s = alpha / r_max.
    The gate is trained by the optimizer like every adapter parameter and, after each optimizer step, shrunk by the
    proximal operator of an L1 penalty (paper §3.2, eq. 5-6: soft-thresholding, g <- sign(g) max(|g| - ξ, 0));
    as in the authors' released sparse optimizer, the threshold ξ (`gate_threshold`) is applied as it is, not
    multiplied by the learning rate. A component whose gate reaches zero is pruned (its A row and B column stop
    mattering); it can come back while its gate gets gradient.

    Budget (ours, so SoRA ends at AdaLoRA's final size, issue 18): the paper lets ξ alone decide the final rank.
    Here the run keeps at most b(T) = target_rank x n gates (or target_total_rank) from the start of the final
    phase (`t_final`, as AdaLoRA's): the |g|-largest, the rest set to zero and held there. So a budget label sizes
    SoRA exactly as it sizes AdaLoRA (r_max = init_rank, r̄ = target_rank).

    init_rank: r_max, the rank every matrix starts with. target_rank / target_total_rank: the final budget.
    t_final: the final phase, steps (int) or share of the run (float below 1). total_steps: set by the trainer.
    gate_init: "normal" (N(0, 1), the authors' code) or "ones". init: A's initialisation ("kaiming" as the authors'
    code, "gaussian" with init_std as the suite's LoRA); B starts at zero.
    """

    init_rank: int = 12
    target_rank: int = 8
    target_total_rank: int | None = None
    alpha: float = 32.0
    targets: list[str] | str | None = None
    dropout: float = 0.0
    gate_threshold: float = 3.0e-4
    t_final: int | float = 0.4
    total_steps: int | None = None
    gate_init: str = "normal"
    init: str = "kaiming"
    init_std: float = 0.02

    def __post_init__(self) -> None:
        validation.positive_int(self, "init_rank")
        if self.target_total_rank is None and not 0 < self.target_rank <= self.init_rank:
            raise validation.AdaLoRAError(f"target_rank={self.target_rank} must be at least 1 and at most "
                                          f"init_rank={self.init_rank}")
        validation.dropout(self)
        if self.gate_threshold < 0:
            raise validation.AdaLoRAError(f"gate_threshold={self.gate_threshold} must be >= 0")
        validation.one_of(self, "gate_init", ("normal", "ones"))
        validation.one_of(self, "init", ("kaiming", "gaussian"))
