"""The LoRA method spec (Hu et al., 2022) as the AdaLoRA paper runs it: every projection adapted."""
from __future__ import annotations

from dataclasses import dataclass

from .. import validation

INITS = ("gaussian", "kaiming")


@dataclass
class LoRA:
    """LoRA: W x + b + (alpha / rank) * B A x, with B = 0 at init so the update starts at zero.

    init: "gaussian" draws A from N(0, init_std²), what the paper's DeBERTa runs do (its `_init_weights`
        re-draws A); "kaiming" is loralib's and PEFT's Kaiming-uniform.
    targets: module-name suffixes or one regular expression; None = the model family's six matrix types.
    orth_reg_weight / reg_form: LoRA_regu (paper Table 5) when orth_reg_weight > 0: AdaLoRA's orthogonal
        regulariser applied to A and B (||A Aᵀ - I||, ||Bᵀ B - I||), as the paper describes it ("(4) on A and B").
        Which form the paper ran is unconfirmed (ALGORITHM.md §2); we use the same form AdaLoRA runs by default ("code":
        the mean of unsquared Frobenius norms), not the official code's cosine-based "frd" regulariser.
    """

    rank: int = 8
    alpha: float = 16.0
    targets: list[str] | str | None = None
    dropout: float = 0.0
    init: str = "gaussian"
    init_std: float = 0.02
    orth_reg_weight: float = 0.0
    reg_form: str = "code"

    def __post_init__(self) -> None:
        validation.positive_int(self, "rank")
        validation.dropout(self)
        validation.one_of(self, "init", INITS)
        validation.regulariser(self)
