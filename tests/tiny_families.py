"""Tiny DeBERTa-v2 and BART built from their configs (random weights), the other two model families the paper
adapts, for fast family-level tests. Like conftest.tiny_bert: 2 layers (per side), 32 wide, no dropout."""
from __future__ import annotations

import torch

IDS = torch.randint(3, 100, (3, 9), generator=torch.Generator().manual_seed(0))


def tiny_deberta(num_labels: int = 2, seed: int = 0):
    from transformers import DebertaV2Config, DebertaV2ForSequenceClassification

    torch.manual_seed(seed)
    cfg = DebertaV2Config(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                          relative_attention=True, pos_att_type=["p2c", "c2p"], position_buckets=16,
                          max_relative_positions=-1, position_biased_input=False, share_att_key=True,
                          norm_rel_ebd="layer_norm", pooler_hidden_size=32, pooler_dropout=0.0, num_labels=num_labels)
    return DebertaV2ForSequenceClassification(cfg).eval()


def tiny_bart(seed: int = 0):
    from transformers import BartConfig, BartForConditionalGeneration

    torch.manual_seed(seed)
    cfg = BartConfig(vocab_size=100, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                     decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
                     dropout=0.0, attention_dropout=0.0, activation_dropout=0.0)
    return BartForConditionalGeneration(cfg).eval()


def outputs(model, ids=IDS):
    with torch.no_grad():
        return model(input_ids=ids).logits
