"""Today's LoRA variants as HF PEFT implements them (not rewritten here): DoRA, PiSSA, rsLoRA and LoRA+.
Field names are shared with `conf/method/{dora,pissa,rslora,loraplus}.yaml`."""
from __future__ import annotations

from dataclasses import dataclass

from .. import validation

VARIANTS = ("dora", "pissa", "rslora", "loraplus")


@dataclass
class PeftLoRA:
    """LoRA through `peft.LoraConfig` + `peft.inject_adapter_in_model`, one variant switched on:

    - "dora" (Liu et al., 2024): W' = m · (W + B A) / ||W + B A||_c, a magnitude vector m per output (PEFT's
      `use_dora`); it trains r (in + out) + out parameters per matrix.
    - "pissa" (Meng et al., 2024): A and B start from the top-r singular triplets of W, which keeps the rest
      (PEFT's `init_lora_weights="pissa"`); the base weight becomes the residual.
    - "rslora" (Kalajdzievski, 2023): the scale alpha / sqrt(r) instead of alpha / r (PEFT's `use_rslora`).
    - "loraplus" (Hayou et al., 2024): plain LoRA whose B matrices learn `loraplus_lr_ratio` times faster (PEFT's
      `create_loraplus_optimizer`).

    rank / alpha / dropout / targets: as in `adalora.LoRA` (targets None = the family's matrices). init: PEFT's own
    ("kaiming": Kaiming-uniform A, zero B, PEFT's default; "gaussian": PEFT's N(0, 1/r) A); PiSSA ignores it.
    """

    variant: str = "dora"
    rank: int = 8
    alpha: float = 16.0
    targets: list[str] | str | None = None
    dropout: float = 0.0
    init: str = "kaiming"
    loraplus_lr_ratio: float = 16.0

    def __post_init__(self) -> None:
        validation.one_of(self, "variant", VARIANTS)
        validation.positive_int(self, "rank")
        validation.dropout(self)
        validation.one_of(self, "init", ("kaiming", "gaussian"))
        if self.loraplus_lr_ratio <= 0:
            raise validation.AdaLoRAError(f"loraplus_lr_ratio={self.loraplus_lr_ratio} must be positive")
