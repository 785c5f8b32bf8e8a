"""From a task's raw splits to what the Trainer eats: optional subsets, tokenised splits, the collator."""
from __future__ import annotations

import datasets
from omegaconf import DictConfig
from transformers import DataCollatorWithPadding, default_data_collator

from .errors import ConfigError


def subsample(raw: datasets.DatasetDict, task_cfg: DictConfig) -> datasets.DatasetDict:
    """`task.max_train_samples` / `task.max_eval_samples`: a seeded random subset (`task.subset_seed`), the same
    for every method and seed, so CPU-scale protocols compare like with like."""
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


def prepare(task, raw: datasets.DatasetDict, tokenizer, task_cfg: DictConfig):
    """(train dataset, {eval split: dataset}, collator)."""
    pad = bool(task_cfg.get("pad_to_max_length", False))
    length = int(task_cfg.max_seq_length)
    train = task.preprocess(raw["train"], tokenizer, length, pad)
    evals = {split: task.preprocess(raw[split], tokenizer, length, pad) for split in task.eval_splits}
    collator = default_data_collator if pad else DataCollatorWithPadding(tokenizer)
    return train, evals, collator
