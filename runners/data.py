"""From a task's raw splits to what the Trainer eats: optional subsets, tokenised splits, the collator.

Preparation depends on the task's kind (classification/regression, extractive_qa, seq2seq); each eval split
becomes an `EvalSet` holding the raw examples, the model's inputs and (QA) the windows with their offsets, so
evaluation (runners/evaluation.py) can map predictions back to examples."""
from __future__ import annotations

from dataclasses import dataclass

import datasets
from omegaconf import DictConfig
from transformers import DataCollatorForSeq2Seq, DataCollatorWithPadding, default_data_collator

from .errors import ConfigError

QA_BOOKKEEPING = ("example_id", "offset_mapping", "cls_index")


@dataclass
class EvalSet:
    """One eval split: `examples` (raw rows), `inputs` (what the model sees), `features` (QA: the windows with
    example ids and offsets; else the same as inputs). Its length is the number of examples."""

    examples: datasets.Dataset
    inputs: datasets.Dataset
    features: datasets.Dataset | None = None

    def __len__(self) -> int:
        return len(self.examples)


def subsample(raw: datasets.DatasetDict, task_cfg: DictConfig) -> datasets.DatasetDict:
    """`task.max_train_samples` / `task.max_eval_samples`: a seeded random subset (`task.subset_seed`), the same
    for every method and seed, so CPU-scale protocols compare like with like. For QA and summarisation the
    subset is of examples (questions, documents), before they are cut into windows."""
    out = {}
    for split, ds in raw.items():
        limit = task_cfg.get("max_train_samples") if split == "train" else task_cfg.get("max_eval_samples")
        if limit is not None:
            if limit < 1:
                raise ConfigError(f"task.max_{'train' if split == 'train' else 'eval'}_samples={limit} must be positive")
            if limit < len(ds):
                ds = ds.shuffle(seed=task_cfg.get("subset_seed", 0)).select(range(limit))
        out[split] = ds
    return datasets.DatasetDict(out)


def prepare(task, raw: datasets.DatasetDict, tokenizer, task_cfg: DictConfig, model=None):
    """(train dataset, {eval split: EvalSet}, collator). With `model`, sequence lengths are checked against its
    position embeddings first."""
    preparer = PREPARERS.get(task.kind)
    if preparer is None:
        raise ConfigError(f"task kind {task.kind!r} has no data preparation")
    if model is not None:
        check_lengths(model, task_cfg)
    return preparer(task, raw, tokenizer, task_cfg)


LENGTH_KEYS = ("max_seq_length", "max_source_length", "max_target_length")


def check_lengths(model, task_cfg: DictConfig) -> None:
    """A length the model has no positions for fails here, in one line, rather than as an index error mid-run."""
    positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if not positions or positions < 0:
        return
    for key in LENGTH_KEYS:
        length = task_cfg.get(key)
        if length is not None and int(length) > positions:
            raise ConfigError(f"task.{key}={length} is longer than the model's {positions} positions: "
                              f"pass task.{key}={positions} (or a model with more positions)")


def _pad(task_cfg: DictConfig) -> bool:
    return bool(task_cfg.get("pad_to_max_length", False))


def prepare_classification(task, raw, tokenizer, task_cfg):
    pad, length = _pad(task_cfg), int(task_cfg.max_seq_length)
    train = task.preprocess(raw["train"], tokenizer, length, pad)
    evals = {}
    for split in task.eval_splits:
        inputs = task.preprocess(raw[split], tokenizer, length, pad)
        evals[split] = EvalSet(raw[split], inputs, inputs)
    collator = default_data_collator if pad else DataCollatorWithPadding(tokenizer)
    return train, evals, collator


def prepare_extractive_qa(task, raw, tokenizer, task_cfg):
    pad, length, stride = _pad(task_cfg), int(task_cfg.max_seq_length), int(task_cfg.doc_stride)
    if stride >= length:
        raise ConfigError(f"task.doc_stride={stride} must be below task.max_seq_length={length}")
    train = task.preprocess_train(raw["train"], tokenizer, length, stride, pad)
    evals = {}
    for split in task.eval_splits:
        features = task.preprocess_eval(raw[split], tokenizer, length, stride, pad)
        evals[split] = EvalSet(raw[split], features.remove_columns(list(QA_BOOKKEEPING)), features)
    collator = default_data_collator if pad else DataCollatorWithPadding(tokenizer)
    return train, evals, collator


def prepare_seq2seq(task, raw, tokenizer, task_cfg):
    pad = _pad(task_cfg)
    source, target = int(task_cfg.max_source_length), int(task_cfg.max_target_length)
    prefix = task_cfg.get("source_prefix") or ""
    train = task.preprocess(raw["train"], tokenizer, source, target, pad, prefix)
    evals = {}
    for split in task.eval_splits:
        inputs = task.preprocess(raw[split], tokenizer, source, target, pad, prefix)
        evals[split] = EvalSet(raw[split], inputs, inputs)
    # labels padded with -100 (ignored by the loss); BART builds decoder inputs from the labels itself
    collator = default_data_collator if pad else DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)
    return train, evals, collator


PREPARERS = {
    "classification": prepare_classification,
    "regression": prepare_classification,
    "extractive_qa": prepare_extractive_qa,
    "seq2seq": prepare_seq2seq,
}
