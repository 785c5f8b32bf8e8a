"""The LoRA method spec (Hu et al., 2022) as the AdaLoRA paper runs it: every projection adapted."""
from __future__ import annotations

from dataclasses import dataclass

from ...errors import AdaLoRAError

INITS = ("gaussian", "kaiming")


@dataclass
class LoRA:
    """LoRA: W x + b + (alpha / rank) * B A x, with B = 0 at init so the update starts at zero.

    init: "gaussian" draws A from N(0, init_std²), what the paper's DeBERTa runs do (its `_init_weights`
        re-draws A); "kaiming" is loralib's and PEFT's Kaiming-uniform.
    targets: module-name suffixes or one regular expression; None = the model family's six matrix types.
    """

    rank: int = 8
    alpha: float = 16.0
    targets: list[str] | str | None = None
    dropout: float = 0.0
    init: str = "gaussian"
    init_std: float = 0.02

    def __post_init__(self) -> None:
        if int(self.rank) != self.rank or self.rank < 1:
            raise AdaLoRAError(f"rank={self.rank} must be a positive integer")
        if not 0 <= self.dropout < 1:
            raise AdaLoRAError(f"dropout={self.dropout} must lie in [0, 1)")
        if self.init not in INITS:
            raise AdaLoRAError(f"init={self.init!r} is not one of {', '.join(INITS)}")
        self.rank = int(self.rank)
