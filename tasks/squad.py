"""SQuAD v1.1 and v2.0: data sources, features with stride and offsets, n-best span post-processing, EM/F1.

Data: from the Hub (`rajpurkar/squad`, `rajpurkar/squad_v2`, parquet) by default, or from `task.data_dir`
holding SQuAD's original JSON (train-v1.1.json / dev-v1.1.json, train-v2.0.json / dev-v2.0.json, or
train.json / dev.json) or the Hub's schema as JSONL/parquet (id, title, context, question,
answers{text, answer_start}); or each split's file with `task.data_files.<split>=FILE`.

Preprocessing follows the HF question-answering example the AdaLoRA code ran (ALGORITHM.md §10.2): question and
context are tokenised together, the context is cut into windows of `max_seq_length` tokens that overlap by
`doc_stride` tokens, and each window ("feature") remembers its example and the character offsets of its
context tokens. A training window whose context does not hold the whole answer (and every unanswerable
question) points at the CLS token.

Post-processing is separate from the model (as HF's utils_qa): for every example, over all its windows, the
`n_best` highest start and end logits form candidate spans (inside the context, end >= start, at most
`max_answer_length` tokens); the best-scoring span (start + end logit) is the answer. For v2.0 the null
answer scores the smallest CLS score over the windows; the question is answered "no answer" when
null score - best span score > `null_score_diff_threshold`. Defaults: n_best 20, max_answer_length 30,
threshold 0.0, max_seq_length 384, doc_stride 128.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np

from .errors import DataError
from .metrics.squad import squad_v1, squad_v2
from .sources import load_hub_schema_file, load_splits, read_json, require_columns

FEATURES = datasets.Features({
    "id": datasets.Value("string"),
    "title": datasets.Value("string"),
    "context": datasets.Value("string"),
    "question": datasets.Value("string"),
    "answers": {"text": datasets.List(datasets.Value("string")),
                "answer_start": datasets.List(datasets.Value("int32"))},
})
COLUMNS = ("id", "context", "question", "answers")


@dataclass(frozen=True)
class Prediction:
    """Post-processed answers: id -> text ("" is "no answer"), and for v2.0 the null-score difference per id
    (null score - best span score; HF's null_odds), the score the official script's threshold sweep reads."""

    answers: dict[str, str]
    no_answer_scores: dict[str, float] | None


@dataclass(frozen=True)
class SquadTask:
    name: str
    version_2: bool
    hub_id: str
    hub_config: str
    local_files: dict
    kind: str = "extractive_qa"
    eval_splits: tuple[str, ...] = ("validation",)
    main_metric: str = "f1"

    @property
    def paper_metrics(self) -> tuple[str, ...]:  # Table 2 reports EM / F1
        return ("exact", "f1") if self.version_2 else ("exact_match", "f1")

    # --- data -------------------------------------------------------------------------------------------
    def load(self, cfg) -> datasets.DatasetDict:
        splits = ("train",) + self.eval_splits
        candidates = {s: (*self.local_files[s], f"{s}.jsonl", f"{s}.parquet") for s in splits}
        what = f"SQuAD JSON ({' / '.join(self.local_files['train'][:1] + self.local_files['validation'][:1])}) or train.jsonl / validation.jsonl"
        return load_splits(cfg, task=self.name, splits=splits, hub=(self.hub_id, self.hub_config, None),
                           candidates=candidates, what=what, read=self._read)

    def _read(self, path: Path, split: str) -> datasets.Dataset:
        if path.suffix == ".json":
            ds = flatten_squad_json(read_json(path), path)
        else:
            ds = load_hub_schema_file(path, split)
            require_columns(ds, COLUMNS, path, self.name)
            if "title" not in ds.column_names:
                ds = ds.add_column("title", [""] * len(ds))
            ds = ds.select_columns(list(FEATURES)).cast(FEATURES)
        if not self.version_2:
            unanswerable = [qid for qid, a in zip(ds["id"], ds["answers"]) if not a["text"]]
            if unanswerable:
                raise DataError(f"{path}: question {unanswerable[0]!r} (and {len(unanswerable) - 1} more) has no "
                                f"answer; SQuAD v1.1 expects one per question (for v2.0 data use task=squad_v2)")
        return ds

    # --- preprocessing ----------------------------------------------------------------------------------
    def _encode(self, batch, tokenizer, max_seq_length: int, doc_stride: int, pad: bool):
        if not getattr(tokenizer, "is_fast", False):
            raise DataError(f"{self.name} needs a fast tokenizer (character offsets); {type(tokenizer).__name__} is not")
        question_first = tokenizer.padding_side == "right"
        questions = [q.lstrip() for q in batch["question"]]
        first, second = (questions, batch["context"]) if question_first else (batch["context"], questions)
        enc = tokenizer(first, second, truncation="only_second" if question_first else "only_first",
                        max_length=max_seq_length, stride=doc_stride, return_overflowing_tokens=True,
                        return_offsets_mapping=True, padding="max_length" if pad else False)
        return enc, (1 if question_first else 0)

    def preprocess_train(self, ds: datasets.Dataset, tokenizer, max_seq_length: int, doc_stride: int,
                         pad: bool) -> datasets.Dataset:
        """Training windows with start/end token positions of the answer (CLS where the window lacks it)."""

        def encode(batch):
            enc, context_id = self._encode(batch, tokenizer, max_seq_length, doc_stride, pad)
            sample_of = enc.pop("overflow_to_sample_mapping")
            offsets = enc.pop("offset_mapping")
            starts, ends = [], []
            for i, window in enumerate(offsets):
                cls = cls_index(enc["input_ids"][i], tokenizer)
                answers = batch["answers"][sample_of[i]]
                span = None
                if answers["answer_start"]:
                    start_char = answers["answer_start"][0]
                    span = answer_tokens(window, enc.sequence_ids(i), context_id,
                                         start_char, start_char + len(answers["text"][0]))
                starts.append(span[0] if span else cls)
                ends.append(span[1] if span else cls)
            enc["start_positions"], enc["end_positions"] = starts, ends
            return enc

        return ds.map(encode, batched=True, remove_columns=ds.column_names, desc=f"{self.name} train features")

    def preprocess_eval(self, ds: datasets.Dataset, tokenizer, max_seq_length: int, doc_stride: int,
                        pad: bool) -> datasets.Dataset:
        """Evaluation windows with `example_id`, `cls_index` and the offsets of context tokens (None elsewhere)."""

        def encode(batch):
            enc, context_id = self._encode(batch, tokenizer, max_seq_length, doc_stride, pad)
            sample_of = enc.pop("overflow_to_sample_mapping")
            enc["example_id"] = [batch["id"][s] for s in sample_of]
            enc["cls_index"] = [cls_index(ids, tokenizer) for ids in enc["input_ids"]]
            enc["offset_mapping"] = [
                [list(o) if seq == context_id else None for o, seq in zip(window, enc.sequence_ids(i))]
                for i, window in enumerate(enc["offset_mapping"])]
            return enc

        return ds.map(encode, batched=True, remove_columns=ds.column_names, desc=f"{self.name} eval features")

    # --- post-processing and metrics --------------------------------------------------------------------
    def postprocess(self, examples: datasets.Dataset, features: datasets.Dataset, start_logits: np.ndarray,
                    end_logits: np.ndarray, n_best: int = 20, max_answer_length: int = 30,
                    null_score_diff_threshold: float = 0.0) -> Prediction:
        return postprocess_predictions(examples, features, start_logits, end_logits, self.version_2,
                                       n_best, max_answer_length, null_score_diff_threshold)

    def references(self, examples: datasets.Dataset) -> dict[str, list[str]]:
        return {qid: list(a["text"]) for qid, a in zip(examples["id"], examples["answers"])}

    def compute_metrics(self, prediction: Prediction, examples: datasets.Dataset) -> dict[str, float]:
        refs = self.references(examples)
        if self.version_2:
            return squad_v2(prediction.answers, refs, prediction.no_answer_scores)
        return squad_v1(prediction.answers, refs)

    def baseline(self, raw: datasets.DatasetDict, task_cfg=None) -> dict | None:
        """v2.0: always answering "no answer" (its exact/F1 is the share of unanswerable questions)."""
        if not self.version_2:
            return None
        examples = raw[self.eval_splits[0]]
        scores = squad_v2({qid: "" for qid in examples["id"]}, self.references(examples))
        return {"kind": "always no answer", **scores}


def cls_index(input_ids, tokenizer) -> int:
    return input_ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in input_ids else 0


def answer_tokens(offsets, sequence_ids, context_id: int, start_char: int, end_char: int) -> tuple[int, int] | None:
    """(first, last) context token of the answer's characters [start_char, end_char), or None when the window's
    context does not cover the whole answer. The first token is the last context token starting at or before
    start_char; the last is the first context token ending at or after end_char."""
    context = [k for k, seq in enumerate(sequence_ids) if seq == context_id]
    if not context or offsets[context[0]][0] > start_char or offsets[context[-1]][1] < end_char:
        return None
    first = max(k for k in context if offsets[k][0] <= start_char)
    last = min(k for k in context if offsets[k][1] >= end_char)
    return first, last


def postprocess_predictions(examples, features, start_logits: np.ndarray, end_logits: np.ndarray,
                            version_2: bool, n_best: int = 20, max_answer_length: int = 30,
                            null_score_diff_threshold: float = 0.0) -> Prediction:
    """From per-window logits to one answer per example (see the module docstring).

    Where no window holds a valid span, the answer is "" (HF's utils_qa writes the placeholder "empty")."""
    if len(features) != len(start_logits) or len(features) != len(end_logits):
        raise ValueError(f"{len(start_logits)} logit rows for {len(features)} features")
    windows_of = defaultdict(list)
    for k, example_id in enumerate(features["example_id"]):
        windows_of[example_id].append(k)
    offsets_all, cls_all = features["offset_mapping"], features["cls_index"]
    answers, no_answer = {}, {}
    for example_id, context in zip(examples["id"], examples["context"]):
        null_score = None
        candidates = []  # (score, start_logit, end_logit, start_char, end_char)
        for k in windows_of.get(example_id, []):
            starts, ends, offsets = start_logits[k], end_logits[k], offsets_all[k]
            cls = cls_all[k]
            window_null = float(starts[cls] + ends[cls])
            if null_score is None or window_null < null_score:
                null_score = window_null
            top_starts = np.argsort(starts)[-1:-n_best - 1:-1]
            top_ends = np.argsort(ends)[-1:-n_best - 1:-1]
            for s in top_starts:
                for e in top_ends:
                    if s >= len(offsets) or e >= len(offsets) or offsets[s] is None or offsets[e] is None:
                        continue
                    if e < s or e - s + 1 > max_answer_length:
                        continue
                    candidates.append((float(starts[s] + ends[e]), float(starts[s]), float(ends[e]),
                                       offsets[s][0], offsets[e][1]))
        candidates.sort(key=lambda c: c[0], reverse=True)
        best = next((c for c in candidates[:n_best] if context[c[3]:c[4]]), None)
        text = context[best[3]:best[4]] if best else ""
        if version_2:
            if null_score is None:  # no window at all (cannot happen with features from preprocess_eval)
                null_score = 0.0
            diff = null_score - (best[1] + best[2] if best else 0.0)  # no span: HF's placeholder scores 0
            no_answer[example_id] = diff
            if diff > null_score_diff_threshold:
                text = ""
        answers[example_id] = text
    return Prediction(answers, no_answer if version_2 else None)


def flatten_squad_json(data, path: Path) -> datasets.Dataset:
    """SQuAD's original JSON ({"version", "data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}) as
    one row per question in the Hub's schema. v2.0's unanswerable questions (is_impossible) get no answers."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(f"{path} is not SQuAD JSON: expected an object with a 'data' list of articles "
                        f"(or give the Hub's schema as .jsonl / .parquet)")
    rows = {key: [] for key in FEATURES}
    try:
        for article in data["data"]:
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    answers = [] if qa.get("is_impossible") else qa["answers"]
                    rows["id"].append(str(qa["id"]))
                    rows["title"].append(article.get("title", ""))
                    rows["context"].append(paragraph["context"])
                    rows["question"].append(qa["question"])
                    rows["answers"].append({"text": [a["text"] for a in answers],
                                            "answer_start": [int(a["answer_start"]) for a in answers]})
    except (KeyError, TypeError) as err:
        raise DataError(f"{path} is not SQuAD JSON: an article, paragraph or question lacks {err}") from None
    if not rows["id"]:
        raise DataError(f"{path} holds no questions")
    return datasets.Dataset.from_dict(rows, features=FEATURES)


SQUAD_TASKS = {
    "squad": SquadTask("squad", version_2=False, hub_id="rajpurkar/squad", hub_config="plain_text",
                       local_files={"train": ("train-v1.1.json", "train.json"),
                                    "validation": ("dev-v1.1.json", "dev.json")}),
    "squad_v2": SquadTask("squad_v2", version_2=True, hub_id="rajpurkar/squad_v2", hub_config="squad_v2",
                          local_files={"train": ("train-v2.0.json", "train.json"),
                                       "validation": ("dev-v2.0.json", "dev.json")}),
}
