"""Tiny stand-ins for the Hub repositories the paper's runs load, laid out as the Hub serves the real ones, for the
offline Hub mirror (tests/hub_mirror.py):

- `microsoft/deberta-v3-base`: a DeBERTa-v2 config shaped like the real one (relative attention, log buckets,
  `pos_att_type` as the string "p2c|c2p", no `architectures`), random weights as `pytorch_model.bin` (the real repo
  has no safetensors on main), a SentencePiece model `spm.model` trained here, and the real repo's two-key
  `tokenizer_config.json`, so the tokenizer goes through transformers' SentencePiece conversion as the real one does;
- `facebook/bart-large`: a BART config with the real one's generation settings inside config.json (num_beams,
  no_repeat_ngram_size, early_stopping, task_specific_params) and 3 labels, random weights, and a byte-level BPE
  tokenizer (vocab.json, merges.txt) trained here;
- datasets as parquet in the real repositories' layout and schema: `nyu-mll/glue` (mnli and rte configs in the
  README's `configs:`, MNLI's validation/test matched and mismatched splits), `rajpurkar/squad_v2` (config squad_v2,
  answerable and unanswerable questions) and `EdinburghNLP/xsum` on its parquet-export branch (default/<split>/).

Text comes from the SST-2 sentences shipped in data/glue/sst2 (labels and answers are synthetic).
"""
from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def sentences(limit: int | None = None) -> list[str]:
    with open(REPO / "data/glue/sst2/train.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    return [r[0].strip() for r in rows[:limit] if r and r[0].strip()]


# --- models ---------------------------------------------------------------------------------------------------
def deberta_v3_base(folder: Path, text: list[str]) -> Path:
    import sentencepiece as spm
    import torch
    from transformers import DebertaV2Config, DebertaV2ForMaskedLM

    folder.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(text), model_writer=model, vocab_size=400,
                                   model_type="unigram", character_coverage=1.0, pad_id=0, pad_piece="[PAD]",
                                   bos_id=1, bos_piece="[CLS]", eos_id=2, eos_piece="[SEP]", unk_id=3,
                                   unk_piece="[UNK]", minloglevel=2, num_threads=1)
    (folder / "spm.model").write_bytes(model.getvalue())
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False, "vocab_type": "spm"}))
    config = {"model_type": "deberta-v2", "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
              "hidden_dropout_prob": 0.1, "hidden_size": 32, "initializer_range": 0.02, "intermediate_size": 64,
              "max_position_embeddings": 512, "relative_attention": True, "position_buckets": 256,
              "norm_rel_ebd": "layer_norm", "share_att_key": True, "pos_att_type": "p2c|c2p",
              "layer_norm_eps": 1e-7, "max_relative_positions": -1, "position_biased_input": False,
              "num_attention_heads": 2, "num_hidden_layers": 2, "type_vocab_size": 0,
              # as the real one (128,100 rows for a 128,000-piece tokenizer), more embedding rows than pieces: here
              # enough that the paper's budget labels (0.16%, 0.3%) name at least rank 1 on this tiny model
              "vocab_size": 16000}
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    torch.manual_seed(0)
    mlm = DebertaV2ForMaskedLM(DebertaV2Config(**config))
    torch.save({k: v.contiguous() for k, v in mlm.state_dict().items()}, folder / "pytorch_model.bin")
    return folder


def bart_large(folder: Path, text: list[str]) -> Path:
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import BartConfig, BartModel

    folder.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(text, vocab_size=8000, min_frequency=2,  # enough parameters for budget=1.10%
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False)
    bpe.save_model(str(folder))  # vocab.json, merges.txt
    vocab = json.loads((folder / "vocab.json").read_text())
    config = {"_name_or_path": "bart-large", "activation_dropout": 0.1, "activation_function": "gelu",
              "add_bias_logits": False, "add_final_layer_norm": False, "architectures": ["BartModel"],
              "attention_dropout": 0.1, "bos_token_id": 0, "classif_dropout": 0.1, "classifier_dropout": 0.0,
              "d_model": 32, "decoder_attention_heads": 2, "decoder_ffn_dim": 64, "decoder_layerdrop": 0.0,
              "decoder_layers": 2, "decoder_start_token_id": 2, "dropout": 0.1, "early_stopping": True,
              "encoder_attention_heads": 2, "encoder_ffn_dim": 64, "encoder_layerdrop": 0.0, "encoder_layers": 2,
              "eos_token_id": 2, "forced_eos_token_id": 2, "gradient_checkpointing": False,
              "id2label": {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"}, "init_std": 0.02,
              "is_encoder_decoder": True, "label2id": {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2},
              "max_position_embeddings": 1024, "model_type": "bart", "no_repeat_ngram_size": 3,
              "normalize_before": False, "num_beams": 4, "num_hidden_layers": 2, "pad_token_id": 1,
              "scale_embedding": False,
              "task_specific_params": {
                  "summarization": {"length_penalty": 1.0, "max_length": 128, "min_length": 12, "num_beams": 4},
                  "summarization_cnn": {"length_penalty": 2.0, "max_length": 142, "min_length": 56, "num_beams": 4},
                  "summarization_xsum": {"length_penalty": 1.0, "max_length": 62, "min_length": 11, "num_beams": 6}},
              "transformers_version": "4.9.0.dev0", "use_cache": True, "vocab_size": len(vocab)}
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    torch.manual_seed(0)
    model_config = BartConfig(**{k: v for k, v in config.items() if k not in ("_name_or_path", "architectures")})
    model = BartModel(model_config)
    torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, folder / "pytorch_model.bin")
    return folder


# --- datasets -------------------------------------------------------------------------------------------------
def _parquet(path: Path, rows: dict, features) -> None:
    import datasets

    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(path))


def _card(configs: list[tuple[str, list[tuple[str, str]]]]) -> str:
    """A dataset card whose YAML lists each config's data files per split, as the converted Hub repos have."""
    lines = ["---", "configs:"]
    for name, splits in configs:
        lines += [f"- config_name: {name}", "  data_files:"]
        lines += [f"  - split: {split}\n    path: {path}" for split, path in splits]
    return "\n".join(lines + ["---", "", "A tiny test stand-in.", ""])


def glue(folder: Path, text: list[str], n: int = 48) -> Path:
    import datasets

    rng = random.Random(0)
    mnli = datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                              "label": datasets.ClassLabel(names=["entailment", "neutral", "contradiction"]),
                              "idx": datasets.Value("int32")})
    rte = datasets.Features({"sentence1": datasets.Value("string"), "sentence2": datasets.Value("string"),
                             "label": datasets.ClassLabel(names=["entailment", "not_entailment"]),
                             "idx": datasets.Value("int32")})
    splits = ("train", "validation_matched", "validation_mismatched", "test_matched", "test_mismatched")
    for split in splits:
        rows = {"premise": rng.sample(text, n), "hypothesis": rng.sample(text, n),
                "label": [-1 if split.startswith("test") else rng.randrange(3) for _ in range(n)],
                "idx": list(range(n))}
        _parquet(folder / f"mnli/{split}-00000-of-00001.parquet", rows, mnli)
    for split in ("train", "validation", "test"):
        rows = {"sentence1": rng.sample(text, n), "sentence2": rng.sample(text, n),
                "label": [-1 if split == "test" else rng.randrange(2) for _ in range(n)], "idx": list(range(n))}
        _parquet(folder / f"rte/{split}-00000-of-00001.parquet", rows, rte)
    (folder / "README.md").write_text(_card([
        ("mnli", [(s, f"mnli/{s}-*") for s in splits]),
        ("rte", [(s, f"rte/{s}-*") for s in ("train", "validation", "test")])]))
    return folder


def squad_v2(folder: Path, text: list[str], n: int = 32) -> Path:
    import datasets

    rng = random.Random(1)
    features = datasets.Features({
        "id": datasets.Value("string"), "title": datasets.Value("string"), "context": datasets.Value("string"),
        "question": datasets.Value("string"),
        "answers": datasets.Sequence({"text": datasets.Value("string"), "answer_start": datasets.Value("int32")})})
    for split in ("train", "validation"):
        rows = {"id": [], "title": [], "context": [], "question": [], "answers": []}
        for i in range(n):
            context = " ".join(rng.sample(text, 3))
            words = context.split()
            if i % 3 == 2:  # a third unanswerable, as in SQuAD v2.0
                answer = {"text": [], "answer_start": []}
            else:
                start = rng.randrange(len(words) - 2)
                span = " ".join(words[start:start + 2])
                answer = {"text": [span], "answer_start": [context.index(span)]}
            rows["id"].append(f"{split}{i:04d}")
            rows["title"].append("Film")
            rows["context"].append(context)
            rows["question"].append(f"what is said about {rng.choice(words)} ?")
            rows["answers"].append(answer)
        _parquet(folder / f"squad_v2/{split}-00000-of-00001.parquet", rows, features)
    (folder / "README.md").write_text(_card([
        ("squad_v2", [(s, f"squad_v2/{s}-*") for s in ("train", "validation")])]))
    return folder


def xsum_parquet_export(folder: Path, text: list[str], n: int = 24) -> Path:
    """The Hub's parquet export of EdinburghNLP/xsum (branch refs/convert/parquet): default/<split>/0000.parquet."""
    import datasets

    rng = random.Random(2)
    features = datasets.Features({"document": datasets.Value("string"), "summary": datasets.Value("string"),
                                  "id": datasets.Value("string")})
    for split in ("train", "validation", "test"):
        documents = [" ".join(rng.sample(text, 4)) for _ in range(n)]
        rows = {"document": documents, "summary": [rng.choice(text) for _ in range(n)],
                "id": [f"{30000000 + i}" for i in range(n)]}
        _parquet(folder / f"default/{split}/0000.parquet", rows, features)
    return folder
