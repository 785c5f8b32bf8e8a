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


@pytest.fixture
def tiny_bert_factory():
    return tiny_bert


def clone(model):
    return copy.deepcopy(model)
