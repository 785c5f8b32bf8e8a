"""A run's identity: task, model, method, budget, seed, plus a short hash of every other setting that can change
its result. The record path and the output folder derive from it, so sweeps never collide and a rerun of the
same cell finds its own record and checkpoints.

The hash is a function of the run's final config, the one its record stores: `config_hash(record["config"])`
gives back `record["config_hash"]` (rule 2). The sizes a budget label sets (LoRA's rank, AdaLoRA's target and
initial ranks, an adapter's width) follow from the label and the model, and are written into the config only once
the model is loaded, so they are left out of the hash when a label is given: the label stands for them. Rule 1
(records before 2026-12-01) hashed the config before those sizes were written; `python -m runners.rehash`
moves records to rule 2 after checking each one's old hash."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

HASH_RULE = 2

# Settings that cannot change a run's result: where things go, how it is watched, how fast data is read.
NOT_HASHED = {
    "results_dir", "outputs_dir", "force", "resume", "logger", "hydra",
    "cpu_tasks",  # a lookup table (conf/experiment/cpu/protocol.yaml): the values a run uses are hashed where they land
    "task.data_dir", "task.data_files", "task.hub_id", "task.revision",
    "trainer.logging_steps", "trainer.save_strategy", "trainer.save_steps", "trainer.save_total_limit",
    "trainer.per_device_eval_batch_size", "trainer.dataloader_num_workers", "trainer.disable_tqdm",
    "trainer.eval_strategy", "trainer.eval_steps",
    "trainer.activation_checkpointing",  # recomputes the same activations (tests/test_decoder_families.py)
    "trainer.gradient_checkpointing",    # its name before transformers 5 (records made before the rename)
}


def _strip(tree, skip: set[str], prefix: str = ""):
    if isinstance(tree, dict):
        return {k: _strip(v, skip, f"{prefix}{k}.") for k, v in tree.items() if f"{prefix}{k}" not in skip}
    return tree


def label_sized(config: dict) -> set[str]:
    """The config paths a budget label sets (empty without a label)."""
    if config.get("budget") is None or not isinstance(config.get("method"), dict):
        return set()
    from .methods import size_fields

    return {f"method.{name}" for name in size_fields(config["method"])}


def hash_of(config: dict, skip: set[str]) -> str:
    text = json.dumps(_strip(config, skip), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def config_hash(config: dict) -> str:
    """8 hex digits over the result-affecting part of the resolved config (rule 2, above)."""
    return hash_of(config, NOT_HASHED | label_sized(config))


@dataclass(frozen=True)
class RunKey:
    model: str
    task: str
    method: str
    budget_slug: str
    seed: int
    config_hash: str

    @property
    def cell(self) -> str:
        """The table cell this run belongs to (the key without the seed)."""
        return f"{self.model}/{self.task}/{self.method}/{self.budget_slug}"

    def record_path(self, results_dir: str | Path) -> Path:
        return Path(results_dir) / self.model / self.task / self.method / self.budget_slug / f"seed{self.seed}.json"

    def output_dir(self, outputs_dir: str | Path) -> Path:
        return Path(outputs_dir) / self.model / self.task / self.method / self.budget_slug / f"seed{self.seed}-{self.config_hash}"
