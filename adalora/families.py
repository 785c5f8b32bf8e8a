"""Model families the suite knows: which matrices the paper adapts in each, where adapters go, and how to name
what was adapted.

The paper adapts every projection of every transformer layer (ALGORITHM.md §7): W_q, W_k, W_v, W_o, W_f1, W_f2
(DeBERTaV3: 12 layers x 6 = 72 matrices), and for BART every attention block of the encoder and the decoder,
cross-attention included (12 x 6 + 12 x 10 = 192 matrices).

Adapter insertion points (ALGORITHM.md §8), as regular expressions over full module names:
- BERT / DeBERTa-v2/v3: a sublayer's output block runs dense -> dropout -> LayerNorm(h + input). A Houlsby
  adapter follows the *dropout* of the attention-output block and of the FFN-output block, so it sees
  dropout(dense(h)) before the residual LayerNorm, exactly where the official DeBERTa fork applies it. A Pfeiffer
  adapter wraps the FFN-output *LayerNorm*: with s = dropout(dense(h)) + x it computes LN(s + adapter(LN(s))),
  which is the official LN(h + adapter(LN(h + x)) + x) to the bit, dropout included.
- BART: residual and LayerNorm are inline in the layer's forward (no output block to hook into), so a Houlsby
  adapter follows the output projection itself: `self_attn.out_proj`, `encoder_attn.out_proj` (decoder
  cross-attention) and `fc2`. Deviation: the layer's dropout then acts on the adapter's output as well
  (dropout(h + a(h)) instead of dropout(h) + a(dropout(h))); in evaluation, and with dropout 0, the two are the
  same. A Pfeiffer adapter wraps each layer's `final_layer_norm` (input s = x + dropout(fc2(...))) exactly as
  for BERT, so Pfeiffer on BART has no deviation. The paper runs no adapters on BART (Table 3); these are ours.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from torch import nn

from .backbone import head_prefixes
from .errors import AdaLoRAError


@dataclass(frozen=True)
class Family:
    name: str
    model_types: tuple[str, ...]
    targets: tuple[str, ...]                 # module-name suffixes of the adapted Linear layers
    matrix_types: tuple[tuple[str, str], ...]  # (name suffix, label), most specific first
    houlsby_sites: str | None                # regex: modules whose output a Houlsby adapter follows
    pfeiffer_sites: str | None               # regex: the LayerNorm closing each FFN sublayer (Pfeiffer)

    def matrix_type(self, module_name: str) -> str:
        for suffix, label in self.matrix_types:
            if module_name.endswith(suffix):
                return label
        return module_name.rsplit(".", 1)[-1]


_LAYER = re.compile(r"(?:(encoder|decoder)\.layers|\blayers|\blayer|\bh)\.(\d+)\.")

BERT = Family(
    name="bert",
    model_types=("bert",),
    targets=("query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"),
    matrix_types=(("attention.self.query", "W_q"), ("attention.self.key", "W_k"), ("attention.self.value", "W_v"),
                  ("attention.output.dense", "W_o"), ("intermediate.dense", "W_f1"), ("output.dense", "W_f2")),
    houlsby_sites=r"(?:.+\.)?layer\.\d+\.(?:attention\.output|output)\.dropout",
    pfeiffer_sites=r"(?:.+\.)?layer\.\d+\.output\.LayerNorm",
)
DEBERTA = Family(
    name="deberta",
    model_types=("deberta-v2", "deberta"),
    targets=("query_proj", "key_proj", "value_proj", "attention.output.dense", "intermediate.dense", "output.dense"),
    matrix_types=(("query_proj", "W_q"), ("key_proj", "W_k"), ("value_proj", "W_v"),
                  ("attention.output.dense", "W_o"), ("intermediate.dense", "W_f1"), ("output.dense", "W_f2")),
    houlsby_sites=BERT.houlsby_sites,
    pfeiffer_sites=BERT.pfeiffer_sites,
)
BART = Family(
    name="bart",
    model_types=("bart",),
    targets=("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"),
    matrix_types=(("encoder_attn.q_proj", "X_q"), ("encoder_attn.k_proj", "X_k"), ("encoder_attn.v_proj", "X_v"),
                  ("encoder_attn.out_proj", "X_o"), ("q_proj", "W_q"), ("k_proj", "W_k"), ("v_proj", "W_v"),
                  ("out_proj", "W_o"), ("fc1", "W_f1"), ("fc2", "W_f2")),
    houlsby_sites=r"(?:.+\.)?layers\.\d+\.(?:self_attn\.out_proj|encoder_attn\.out_proj|fc2)",
    pfeiffer_sites=r"(?:.+\.)?layers\.\d+\.final_layer_norm",
)
# Decoder-only families (beyond the paper): every attention and MLP projection. Llama-style models (Llama, Mistral,
# Qwen2/Qwen3) name them alike and have a gated MLP (W_g gates W_f1). GPT-2 stores its projections as Conv1D
# (y = x W + b, W in x out) and fuses W_q, W_k, W_v into one `c_attn` (in -> 3 x in): it is adapted as the one
# matrix it is, as PEFT does (adalora.targets.TransposedLinear presents each Conv1D as the Linear it computes).
# The paper placed no Houlsby / Pfeiffer adapters in these families, and neither does the suite.
LLAMA = Family(
    name="llama",
    model_types=("llama", "mistral", "qwen2", "qwen3"),
    targets=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    matrix_types=(("q_proj", "W_q"), ("k_proj", "W_k"), ("v_proj", "W_v"), ("o_proj", "W_o"),
                  ("gate_proj", "W_g"), ("up_proj", "W_f1"), ("down_proj", "W_f2")),
    houlsby_sites=None,
    pfeiffer_sites=None,
)
GPT2 = Family(
    name="gpt2",
    model_types=("gpt2",),
    targets=("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"),
    matrix_types=(("attn.c_attn", "W_qkv"), ("attn.c_proj", "W_o"), ("mlp.c_fc", "W_f1"), ("mlp.c_proj", "W_f2")),
    houlsby_sites=None,
    pfeiffer_sites=None,
)
FAMILIES = (BERT, DEBERTA, BART, LLAMA, GPT2)

# What each adapter method may find at its insertion points: these exact types (a subclass such as LoRALinear or
# HoulsbyDropout means another method already adapted the module).
SITE_TYPES = {"houlsby": (nn.Dropout, nn.Linear), "pfeiffer": (nn.LayerNorm,)}


def family_of(model: nn.Module) -> Family | None:
    """The family of a transformers model (by `config.model_type`), or None for other modules."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    return next((f for f in FAMILIES if model_type in f.model_types), None)


def adapter_sites(model: nn.Module, method: str) -> list[tuple[str, nn.Module]]:
    """The (name, module) pairs where `method` ("houlsby" or "pfeiffer") inserts its adapters, in module order.

    The task head is never adapted. Raises AdaLoRAError when the model's family has no such insertion point."""
    family = family_of(model)
    label = method.capitalize()
    if family is None:
        model_type = getattr(getattr(model, "config", None), "model_type", None)
        raise AdaLoRAError(f"{label} adapters need the model family's insertion points, and {type(model).__name__} "
                           f"(model_type {model_type!r}) is not a family the suite knows (BERT, DeBERTa-v2/v3, BART): "
                           f"use bitfit, full, or lora / adalora with targets=[...] on it")
    sites = getattr(family, f"{method}_sites")
    if sites is None:
        raise AdaLoRAError(f"{label} adapters have no insertion points in the {family.name} family (the paper placed "
                           f"adapters only in BERT-style encoders and BART): use lora, adalora, bitfit or full on it")
    pattern = re.compile(sites)
    exclude = head_prefixes(model)
    found, wrong = [], []
    for name, module in model.named_modules():
        if not name or not pattern.fullmatch(name) or any(name == p or name.startswith(p + ".") for p in exclude):
            continue
        (found if type(module) in SITE_TYPES[method] else wrong).append((name, module))  # a subclass: adapted
    if wrong:
        name, module = wrong[0]
        raise AdaLoRAError(f"{label} expects {' or '.join(t.__name__ for t in SITE_TYPES[method])} at {name} of this "
                           f"{family.name} model, found {type(module).__name__}: was another method attached first? Attach one method per model")
    if not found:
        raise AdaLoRAError(f"{type(model).__name__} has none of the {family.name} family's {label} insertion points "
                           f"(modules matching {pattern.pattern}); is it a {family.name} model with its usual layout?")
    return found


def site_width(model: nn.Module, module: nn.Module) -> int:
    """The hidden width an adapter at this site works on."""
    if isinstance(module, nn.Linear):
        return module.out_features
    if isinstance(module, nn.LayerNorm):
        return int(module.normalized_shape[-1])
    return int(model.config.hidden_size)


def layer_of(module_name: str) -> str:
    """The layer a module belongs to: "3" for an encoder-only or decoder-only model, "enc.3" / "dec.3" for BART,
    "" if none."""
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
