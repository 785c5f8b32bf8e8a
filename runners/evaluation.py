"""Evaluation on the task's eval splits with the task's own metric code (never inside the model).

One evaluator per task kind, all built on `Trainer.predict` (the evaluation loop; transformers 5 has no
`prediction_loop`): classification/regression score the logits; extractive QA maps the windows' start/end
logits back to one answer per question (tasks/squad.py) and scores EM/F1; seq2seq generates with the task's
generation settings (`task.generation`: beams, max length) and scores ROUGE on the decoded text."""
from __future__ import annotations

import logging

import numpy as np
from omegaconf import DictConfig, OmegaConf

from .errors import ConfigError

log = logging.getLogger("runners")

# MNLI's second split is reported with run_glue's "_mm" suffix; any other extra split by its name.
SPLIT_SUFFIX = {"validation_mismatched": "_mm"}


def evaluate(trainer, task, eval_sets: dict, task_cfg: DictConfig | None = None) -> dict[str, float]:
    evaluator = EVALUATORS.get(task.kind)
    if evaluator is None:
        raise ConfigError(f"task kind {task.kind!r} has no evaluator")
    task_cfg = task_cfg if task_cfg is not None else OmegaConf.create({})
    metrics: dict[str, float] = {}
    for i, (split, eval_set) in enumerate(eval_sets.items()):
        values = evaluator(trainer, task, eval_set, split, task_cfg)
        suffix = "" if i == 0 else SPLIT_SUFFIX.get(split, f"_{split}")
        metrics.update({f"{name}{suffix}": value for name, value in values.items()})
    return metrics


def baseline(task, raw, task_cfg: DictConfig | None = None) -> dict | None:
    """A trivial reference for the record (majority class, always "no answer", lead-k sentences), or None."""
    return task.baseline(raw, task_cfg)


def _inputs(eval_set):
    return getattr(eval_set, "inputs", eval_set)


def evaluate_classification(trainer, task, eval_set, split, task_cfg) -> dict[str, float]:
    output = trainer.predict(_inputs(eval_set), metric_key_prefix=split)
    logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
    return task.compute_metrics(task.predictions(np.asarray(logits)), output.label_ids)


def evaluate_extractive_qa(trainer, task, eval_set, split, task_cfg) -> dict[str, float]:
    output = trainer.predict(eval_set.inputs, metric_key_prefix=split)
    start_logits, end_logits = output.predictions[:2]
    post = task_cfg.get("postprocess") or {}
    prediction = task.postprocess(eval_set.examples, eval_set.features, np.asarray(start_logits),
                                  np.asarray(end_logits), n_best=int(post.get("n_best", 20)),
                                  max_answer_length=int(post.get("max_answer_length", 30)),
                                  null_score_diff_threshold=float(post.get("null_score_diff_threshold", 0.0)))
    return task.compute_metrics(prediction, eval_set.examples)


def generation_kwargs(task_cfg: DictConfig) -> dict:
    gen = task_cfg.get("generation")
    return {k: v for k, v in (OmegaConf.to_container(gen, resolve=True) if gen else {}).items() if v is not None}


def evaluate_seq2seq(trainer, task, eval_set, split, task_cfg) -> dict[str, float]:
    gen_kwargs = generation_kwargs(task_cfg)
    log.info("generating %d %s summaries with %s over the model's generation config %s", len(eval_set), split,
             gen_kwargs, trainer.model.generation_config.to_diff_dict())
    output = trainer.predict(eval_set.inputs, metric_key_prefix=split, **gen_kwargs)
    tokenizer = trainer.processing_class
    predictions = task.decode(output.predictions, tokenizer)
    rouge_cfg = task_cfg.get("rouge") or {}
    source = rouge_cfg.get("references", "raw")
    if source not in ("raw", "labels"):
        raise ConfigError(f"task.rouge.references={source!r}: choose raw (the dataset's summaries) or labels")
    if source == "labels":  # the scripts' way: decoded (truncated) label ids
        references = task.decode(output.label_ids, tokenizer)
    else:                                              # the dataset's own reference summaries
        references = task.references(eval_set.examples)
    return task.compute_metrics(predictions, references, rouge_cfg.get("sentence_splitter", "regex"))


EVALUATORS = {
    "classification": evaluate_classification,
    "regression": evaluate_classification,
    "extractive_qa": evaluate_extractive_qa,
    "seq2seq": evaluate_seq2seq,
}
