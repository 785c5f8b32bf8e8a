"""XSum and CNN/DailyMail: data sources, seq2seq preprocessing, decoding and ROUGE (ALGORITHM.md §10.3).

Data: from the Hub (`EdinburghNLP/xsum`, `abisee/cnn_dailymail` config 3.0.0, parquet) by default, or from
`task.data_dir` holding the Hub's schema as JSONL/parquet per split (train.jsonl, validation.jsonl, test.jsonl),
or each split's file with `task.data_files.<split>=FILE`. Only the text and summary columns are read
(XSum: document, summary; CNN/DailyMail: article, highlights), so extra fields (XSum's bbcid, ...) are fine.

Preprocessing as the AdaLoRA/HF summarisation scripts: the source truncated to `max_source_length` tokens, the
target to `max_target_length` (XSum 768 / 64, CNN/DailyMail 1024 / 160), padding positions of the labels
ignored by the loss (-100). Generation settings (beams, max length) live in conf/task/<task>.yaml.
Scores: ROUGE-1/2/L/Lsum with stemming, mid F x 100 (tasks/metrics/rouge.py), on sentence-split text.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np

from .errors import DataError
from .metrics.rouge import rouge
from .sentences import get_splitter
from .sources import load_hub_schema_file, load_splits, require_columns

DEFAULT_SPLITTER = "regex"


@dataclass(frozen=True)
class SummarizationTask:
    name: str
    text_column: str
    summary_column: str
    hub_id: str
    hub_config: str | None
    lead_sentences: int                     # the lead baseline: the document's first k sentences
    kind: str = "seq2seq"
    eval_splits: tuple[str, ...] = ("validation",)
    main_metric: str = "rouge1"
    # Table 3's R-1 / R-2 / R-L. Its R-L is ROUGE-Lsum [derived: CNN/DM's R-L ~ 41-42 is only reached by the
    # summary-level LCS; sentence-level ROUGE-L of BART on CNN/DM is ~ 31]. rougeL is recorded too.
    paper_metrics: tuple[str, ...] = ("rouge1", "rouge2", "rougeLsum")

    # --- data -------------------------------------------------------------------------------------------
    def load(self, cfg) -> datasets.DatasetDict:
        splits = ("train",) + self.eval_splits
        candidates = {s: (f"{s}.jsonl", f"{s}.parquet", f"{s}.json") for s in splits}
        what = f"{', '.join(f'{s}.jsonl' for s in splits)} (or .parquet) with columns {self.text_column}, {self.summary_column}"
        return load_splits(cfg, task=self.name, splits=splits, hub=(self.hub_id, self.hub_config, None),
                           candidates=candidates, what=what, read=self._read,
                           from_hub=lambda ds: ds.select_columns([self.text_column, self.summary_column]))

    def _read(self, path: Path, split: str) -> datasets.Dataset:
        ds = load_hub_schema_file(path, split)
        need = [self.text_column, self.summary_column]
        require_columns(ds, need, path, self.name)
        ds = ds.select_columns(need)
        empty = sum(1 for text in ds[self.text_column] if not (text or "").strip())
        if empty == len(ds):
            raise DataError(f"{path}: every {self.text_column!r} is empty")
        return ds

    # --- preprocessing ----------------------------------------------------------------------------------
    def preprocess(self, ds: datasets.Dataset, tokenizer, max_source_length: int, max_target_length: int,
                   pad: bool, source_prefix: str = "") -> datasets.Dataset:
        padding = "max_length" if pad else False

        def encode(batch):
            sources = [source_prefix + (text or "") for text in batch[self.text_column]]
            enc = tokenizer(sources, max_length=max_source_length, truncation=True, padding=padding)
            labels = tokenizer(text_target=[s or "" for s in batch[self.summary_column]],
                               max_length=max_target_length, truncation=True, padding=padding)["input_ids"]
            if pad:  # padding positions are ignored by the loss (ignore_pad_token_for_loss)
                labels = [[t if t != tokenizer.pad_token_id else -100 for t in seq] for seq in labels]
            enc["labels"] = labels
            return enc

        return ds.map(encode, batched=True, remove_columns=ds.column_names, desc=f"tokenizing {self.name}")

    # --- decoding and metrics ---------------------------------------------------------------------------
    def decode(self, token_ids: np.ndarray, tokenizer) -> list[str]:
        """Generated (or label) ids to text; -100 (padding across batches) becomes the pad token first."""
        ids = np.where(np.asarray(token_ids) != -100, token_ids, tokenizer.pad_token_id)
        return [t.strip() for t in tokenizer.batch_decode(ids, skip_special_tokens=True,
                                                          clean_up_tokenization_spaces=True)]

    def references(self, examples: datasets.Dataset) -> list[str]:
        return [s or "" for s in examples[self.summary_column]]

    def compute_metrics(self, predictions: list[str], references: list[str], splitter: str = DEFAULT_SPLITTER,
                        seed: int = 0) -> dict[str, float]:
        scores = rouge(predictions, references, get_splitter(splitter), seed=seed)
        scores["gen_len"] = float(np.mean([len(p.split()) for p in predictions]))
        return scores

    def baseline(self, raw: datasets.DatasetDict, task_cfg=None) -> dict:
        """Lead-k: the document's first k sentences as its summary (k = 1 for XSum, 3 for CNN/DailyMail)."""
        rouge_cfg = (task_cfg or {}).get("rouge") or {}
        name = rouge_cfg.get("sentence_splitter", DEFAULT_SPLITTER)
        split = get_splitter(name)
        examples = raw[self.eval_splits[0]]
        leads = [" ".join(split(text or "")[:self.lead_sentences]) for text in examples[self.text_column]]
        return {"kind": f"lead-{self.lead_sentences} (first sentences by the {name} splitter)",
                **self.compute_metrics(leads, self.references(examples), name)}


SUMMARIZATION_TASKS = {
    "xsum": SummarizationTask("xsum", "document", "summary", hub_id="EdinburghNLP/xsum", hub_config=None,
                              lead_sentences=1),
    "cnn_dailymail": SummarizationTask("cnn_dailymail", "article", "highlights", hub_id="abisee/cnn_dailymail",
                                       hub_config="3.0.0", lead_sentences=3),
}
