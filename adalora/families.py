"""Model families the suite knows: which matrices the paper adapts in each, and how to name them.

The paper adapts every projection of every transformer layer (spec §7): W_q, W_k, W_v, W_o, W_f1, W_f2
(DeBERTaV3: 12 layers x 6 = 72 matrices), and for BART every attention block of the encoder and the decoder,
cross-attention included (12 x 6 + 12 x 10 = 192 matrices).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class Family:
    name: str
    model_types: tuple[str, ...]
    targets: tuple[str, ...]                 # module-name suffixes of the adapted Linear layers
    matrix_types: tuple[tuple[str, str], ...]  # (name suffix, label), most specific first

    def matrix_type(self, module_name: str) -> str:
        for suffix, label in self.matrix_types:
            if module_name.endswith(suffix):
                return label
        return module_name.rsplit(".", 1)[-1]


_LAYER = re.compile(r"(?:(encoder|decoder)\.layers|layer)\.(\d+)\.")

BERT = Family(
    name="bert",
    model_types=("bert",),
    targets=("query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"),
    matrix_types=(("attention.self.query", "W_q"), ("attention.self.key", "W_k"), ("attention.self.value", "W_v"),
                  ("attention.output.dense", "W_o"), ("intermediate.dense", "W_f1"), ("output.dense", "W_f2")),
)
DEBERTA = Family(
    name="deberta",
    model_types=("deberta-v2", "deberta"),
    targets=("query_proj", "key_proj", "value_proj", "attention.output.dense", "intermediate.dense", "output.dense"),
    matrix_types=(("query_proj", "W_q"), ("key_proj", "W_k"), ("value_proj", "W_v"),
                  ("attention.output.dense", "W_o"), ("intermediate.dense", "W_f1"), ("output.dense", "W_f2")),
)
BART = Family(
    name="bart",
    model_types=("bart",),
    targets=("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"),
    matrix_types=(("encoder_attn.q_proj", "X_q"), ("encoder_attn.k_proj", "X_k"), ("encoder_attn.v_proj", "X_v"),
                  ("encoder_attn.out_proj", "X_o"), ("q_proj", "W_q"), ("k_proj", "W_k"), ("v_proj", "W_v"),
                  ("out_proj", "W_o"), ("fc1", "W_f1"), ("fc2", "W_f2")),
)
FAMILIES = (BERT, DEBERTA, BART)


def family_of(model: nn.Module) -> Family | None:
    """The family of a transformers model (by `config.model_type`), or None for other modules."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    return next((f for f in FAMILIES if model_type in f.model_types), None)


def layer_of(module_name: str) -> str:
    """The layer a module belongs to: "3" for an encoder-only model, "enc.3" / "dec.3" for BART, "" if none."""
    m = _LAYER.search(module_name)
    if not m:
        return ""
    stack, index = m.groups()
    return f"{stack[:3]}.{index}" if stack else index


def describe(model: nn.Module, module_name: str) -> tuple[str, str]:
    """(layer, matrix type) of an adapted module, e.g. ("11", "W_f1"), for rank-pattern tables and heat maps."""
    family = family_of(model)
    kind = family.matrix_type(module_name) if family else module_name.rsplit(".", 1)[-1]
    return layer_of(module_name), kind
