"""The GLUE tasks: sentence keys, label maps, data sources, preprocessing and metrics (ALGORITHM.md §10.1).

From the Hub (`nyu-mll/glue`, parquet) by default, or from `task.data_dir` holding GLUE's original TSV files
(train.tsv, dev.tsv; MNLI's dev_matched.tsv / dev_mismatched.tsv) or the Hub's schema as parquet/JSONL
(train.parquet, validation.parquet, ...).

GLUE's TSV layouts (as GLUE's download script writes them and the Hub's GLUE builder read them):
- CoLA: no header; source, label (0/1), original label, sentence.
- SST-2: header `sentence label`.
- MRPC: header `Quality #1 ID #2 ID #1 String #2 String` (after a UTF-8 byte-order mark); label 0/1.
- STS-B: header `index genre filename year old_index source1 source2 sentence1 sentence2 score`; a float score.
- QQP: header `id qid1 qid2 question1 question2 is_duplicate`; a few rows of the original release are cut short,
  and GLUE's loaders skip them (the Hub's builder drops rows with missing fields; 363,846 train rows remain).
- MNLI: header `index promptID pairID genre sentence1_binary_parse ... sentence1 sentence2 label1 [label2..5]
  gold_label`; labels entailment / neutral / contradiction; dev_matched.tsv and dev_mismatched.tsv.
- QNLI: header `index question sentence label`; RTE: header `index sentence1 sentence2 label`.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np

from .errors import DataError
from .metrics.glue import glue_metrics
from .sources import column, load_hub_schema_file, load_splits, read_tsv

log = logging.getLogger(__name__)

HUB_ID = "nyu-mll/glue"
HUB_REVISION = None  # the branch head; conf/task/<task>.yaml pins `revision` where a commit is known


@dataclass(frozen=True)
class TsvLayout:
    """Where GLUE's original TSV keeps each field: column names (with a header) or indices (without)."""

    header: bool
    text: tuple
    label: str | int


@dataclass(frozen=True)
class GlueTask:
    name: str
    text_keys: tuple[str, str | None]
    label_names: tuple[str, ...] | None        # None: regression (STS-B)
    main_metric: str
    tsv: TsvLayout
    eval_splits: tuple[str, ...] = ("validation",)
    tsv_files: dict = field(default_factory=lambda: {"train": "train.tsv", "validation": "dev.tsv"})
    kind: str = "classification"
    paper_metrics: tuple[str, ...] = ()       # what the paper's Table 1 reports for this task (ALGORITHM.md §11)
    skip_short_rows: bool = False             # QQP: drop rows with missing fields, as GLUE's loaders do

    # --- data -------------------------------------------------------------------------------------------
    @property
    def num_labels(self) -> int:
        return 1 if self.label_names is None else len(self.label_names)

    @property
    def is_regression(self) -> bool:
        return self.label_names is None

    def features(self) -> datasets.Features:
        feats = {key: datasets.Value("string") for key in self.text_keys if key}
        feats["label"] = datasets.Value("float32") if self.is_regression else datasets.ClassLabel(names=list(self.label_names))
        return datasets.Features(feats)

    def load(self, cfg) -> datasets.DatasetDict:
        """The raw splits ("train" and the eval splits), from local files when cfg.data_dir / cfg.data_files
        name them, else from the Hub."""
        splits = ("train",) + self.eval_splits
        candidates = {s: (self.tsv_files[s], f"{s}.parquet", f"{s}.jsonl") for s in splits}
        what = f"{self.name.upper()}'s {', '.join(self.tsv_files[s] for s in splits)} (GLUE TSV) or {splits[0]}.parquet etc."
        return load_splits(cfg, task=self.name, splits=splits, hub=(HUB_ID, self.name, HUB_REVISION),
                           candidates=candidates, what=what, read=self._read)

    def _read(self, path: Path, split: str) -> datasets.Dataset:
        if path.suffix != ".tsv":
            ds = load_hub_schema_file(path, split)
            need = [k for k in self.text_keys if k] + ["label"]
            absent = [k for k in need if k not in ds.column_names]
            if absent:
                raise DataError(f"{path} has no column {absent[0]!r}; {self.name} needs columns {need}")
            return ds.select_columns(need).cast(self.features())
        header, rows = read_tsv(path, self.tsv.header)
        text_idx = [column(header, key, path) for key in self.tsv.text]
        label_idx = column(header, self.tsv.label, path)
        width = max(text_idx + [label_idx]) + 1
        columns = {key: [] for key in self.text_keys if key}
        labels = []
        skipped = 0
        for line_no, row in enumerate(rows, start=2 if header else 1):
            if self.skip_short_rows and (len(row) < width or not row[label_idx].strip()):
                skipped += 1
                continue
            if len(row) < width:
                raise DataError(f"{path} line {line_no} has {len(row)} fields, expected at least {width} "
                                f"(is this {self.name.upper()}'s file?)")
            for key, idx in zip([k for k in self.text_keys if k], text_idx):
                columns[key].append(row[idx])
            labels.append(self._label(row[label_idx], path, line_no))
        if skipped:
            if skipped > max(10, len(rows) // 100):
                raise DataError(f"{path}: {skipped} of {len(rows)} rows have fewer than {width} fields "
                                f"(is this {self.name.upper()}'s file?)")
            log.warning("%s: skipped %d malformed rows (missing fields), as GLUE's loaders do", path, skipped)
        columns["label"] = labels
        return datasets.Dataset.from_dict(columns, features=self.features())

    def _label(self, value: str, path: Path, line_no: int):
        if self.is_regression:
            try:
                return float(value)
            except ValueError:
                raise DataError(f"{path} line {line_no}: score {value!r} is not a number") from None
        if value in self.label_names:
            return self.label_names.index(value)
        if value.isdigit() and int(value) < len(self.label_names):
            return int(value)
        raise DataError(f"{path} line {line_no}: unknown label {value!r}; {self.name} labels are "
                        f"{', '.join(self.label_names)} (or 0..{len(self.label_names) - 1})")

    # --- preprocessing ----------------------------------------------------------------------------------
    def preprocess(self, ds: datasets.Dataset, tokenizer, max_seq_length: int, pad_to_max_length: bool) -> datasets.Dataset:
        first, second = self.text_keys

        def encode(batch):
            args = (batch[first],) if second is None else (batch[first], batch[second])
            enc = tokenizer(*args, truncation=True, max_length=max_seq_length,
                            padding="max_length" if pad_to_max_length else False)
            enc["labels"] = batch["label"]
            return enc

        return ds.map(encode, batched=True, remove_columns=ds.column_names, desc=f"tokenizing {self.name}")

    # --- metrics ----------------------------------------------------------------------------------------
    def predictions(self, logits: np.ndarray) -> np.ndarray:
        return np.squeeze(logits, axis=-1) if self.is_regression else np.argmax(logits, axis=-1)

    def compute_metrics(self, predictions, labels) -> dict[str, float]:
        return glue_metrics(self.name, predictions, labels)

    def baseline(self, raw: datasets.DatasetDict, task_cfg=None) -> dict:
        return {"kind": "majority class of train", **self.majority_baseline(raw["train"], raw[self.eval_splits[0]])}

    def majority_baseline(self, train: datasets.Dataset, split: datasets.Dataset) -> dict[str, float]:
        """The metrics of always predicting the train split's most frequent label (its mean for STS-B)."""
        train_labels = np.asarray(train["label"])
        constant = float(train_labels.mean()) if self.is_regression else Counter(train_labels.tolist()).most_common(1)[0][0]
        labels = np.asarray(split["label"])
        return self.compute_metrics(np.full(len(labels), constant), labels)


_PAIR = TsvLayout(header=True, text=("sentence1", "sentence2"), label="label")

GLUE_TASKS = {
    "cola": GlueTask("cola", ("sentence", None), ("unacceptable", "acceptable"), "matthews_correlation",
                     TsvLayout(header=False, text=(3,), label=1), paper_metrics=("matthews_correlation",)),
    "sst2": GlueTask("sst2", ("sentence", None), ("negative", "positive"), "accuracy",
                     TsvLayout(header=True, text=("sentence",), label="label"), paper_metrics=("accuracy",)),
    "mrpc": GlueTask("mrpc", ("sentence1", "sentence2"), ("not_equivalent", "equivalent"), "accuracy",
                     TsvLayout(header=True, text=("#1 String", "#2 String"), label="Quality"),
                     paper_metrics=("accuracy",)),
    "stsb": GlueTask("stsb", ("sentence1", "sentence2"), None, "combined_score",
                     TsvLayout(header=True, text=("sentence1", "sentence2"), label="score"),
                     kind="regression", paper_metrics=("combined_score",)),
    "qqp": GlueTask("qqp", ("question1", "question2"), ("not_duplicate", "duplicate"), "accuracy",
                    TsvLayout(header=True, text=("question1", "question2"), label="is_duplicate"),
                    paper_metrics=("accuracy", "f1"), skip_short_rows=True),
    "mnli": GlueTask("mnli", ("premise", "hypothesis"), ("entailment", "neutral", "contradiction"), "accuracy",
                     TsvLayout(header=True, text=("sentence1", "sentence2"), label="gold_label"),
                     eval_splits=("validation_matched", "validation_mismatched"),
                     tsv_files={"train": "train.tsv", "validation_matched": "dev_matched.tsv",
                                "validation_mismatched": "dev_mismatched.tsv"},
                     paper_metrics=("accuracy", "accuracy_mm")),
    "qnli": GlueTask("qnli", ("question", "sentence"), ("entailment", "not_entailment"), "accuracy",
                     TsvLayout(header=True, text=("question", "sentence"), label="label"), paper_metrics=("accuracy",)),
    "rte": GlueTask("rte", ("sentence1", "sentence2"), ("entailment", "not_entailment"), "accuracy", _PAIR,
                    paper_metrics=("accuracy",)),
}
