"""Shared fixtures: tiny models built from configs, the repository root, the shared real-data folder."""
from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_MODE", "disabled")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("ADALORA_SHARED_DATA", REPO.parent / "shared" / "data"))


def pytest_collection_modifyitems(config, items):
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason=f"needs the real datasets in {SHARED_DATA} (set ADALORA_SHARED_DATA)")
    for item in items:
        if "shared_data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def shared_data() -> Path:
    return SHARED_DATA


def tiny_bert(num_labels: int = 2, seed: int = 0, **overrides):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    cfg = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
               hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=num_labels)
    cfg.update(overrides)
    return BertForSequenceClassification(BertConfig(**cfg)).eval()


def tiny_deberta(num_labels: int = 2, seed: int = 0, **overrides):
    """A 2-layer, 32-wide DeBERTa-v2 shaped like DeBERTaV3 (relative attention, log buckets, shared keys)."""
    from transformers import DebertaV2Config, DebertaV2ForSequenceClassification

    torch.manual_seed(seed)
    cfg = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
               hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, relative_attention=True, position_buckets=16,
               norm_rel_ebd="layer_norm", share_att_key=True, pos_att_type=["p2c", "c2p"], max_relative_positions=-1,
               position_biased_input=False, type_vocab_size=0, num_labels=num_labels)
    cfg.update(overrides)
    return DebertaV2ForSequenceClassification(DebertaV2Config(**cfg)).eval()


def tiny_bart(seed: int = 0, head: str = "generation", **overrides):
    """A 2+2-layer, 32-wide BART: encoder, decoder self-attention and decoder cross-attention."""
    from transformers import BartConfig, BartForConditionalGeneration, BartForSequenceClassification

    torch.manual_seed(seed)
    cfg = dict(vocab_size=100, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
               decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
               dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, pad_token_id=1, bos_token_id=0,
               eos_token_id=2, decoder_start_token_id=2, num_labels=2)
    cfg.update(overrides)
    cls = BartForConditionalGeneration if head == "generation" else BartForSequenceClassification
    return cls(BartConfig(**cfg)).eval()


FAMILY_MODELS = {"bert": tiny_bert, "deberta": tiny_deberta, "bart": tiny_bart}


@pytest.fixture
def tiny_bert_factory():
    return tiny_bert


def clone(model):
    return copy.deepcopy(model)
