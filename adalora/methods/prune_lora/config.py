"""The Prune-LoRA spec (paper Table 4): LoRA whose rank-one doublets are pruned with AdaLoRA's scores and
schedule. Field names are shared with `conf/method/prune-lora.yaml`."""
from __future__ import annotations

from dataclasses import dataclass

from .. import validation
from ..lora.config import INITS

IMPORTANCE = ("sensitivity_uncertainty", "sensitivity")


@dataclass
class PruneLoRA:
    """LoRA, W x + b + (alpha / init_rank) B A x, pruned doublet by doublet as the official research code's
    `RankSelector` does it (ALGORITHM.md §11, Table 4 note):

    - every entry of A and B is scored as in AdaLoRA (I = |w * grad|, EMAs Ī and Ū, s = Ī * Ū);
    - the score of doublet i is mean_j s(A_ij) + mean_j s(B_ji) (no singular value to add);
    - AdaLoRA's cubic budget schedule and one global threshold; the pruned doublets have their A row *and* B
      column zeroed in place (the optimizer state is kept);
    - the scaling alpha / init_rank never changes.

    Revival: unlike a pruned AdaLoRA triplet, whose λ still gets a first-order gradient (P and Q are kept), a
    zeroed doublet has zero task-loss gradient in both A_i and B_i (each one's gradient is a product with the
    other). Only the optimizer's retained momentum moves it off zero (and, with orth_reg_weight > 0, the
    regulariser); its score |w * grad| is then ~0, so in practice a pruned doublet stays pruned.

    orth_reg_weight: 0 by default; the paper says Prune-LoRA shares AdaLoRA's scores and schedule, not that it
        adds the orthogonal regulariser (which constrains P and Q of the SVD form). > 0 applies it to A and B.
    init_rank / target_rank / t_init / t_final / delta_t / beta1 / beta2 / target_total_rank / total_steps /
        importance / score_weights: as in `adalora.AdaLoRA` (no "magnitude": doublets have no singular value).
    init / init_std / dropout: as in `adalora.LoRA`.
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
    orth_reg_weight: float = 0.0
    total_steps: int | None = None
    target_total_rank: int | None = None
    dropout: float = 0.0
    init: str = "gaussian"
    init_std: float = 0.02
    importance: str = "sensitivity_uncertainty"
    reg_form: str = "code"
    score_weights: str = "post"

    def __post_init__(self) -> None:
        validation.allocation(self, IMPORTANCE, unit="doublet")
        validation.one_of(self, "init", INITS)
