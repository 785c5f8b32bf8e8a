"""ROUGE-1/2/L/Lsum as the HF and AdaLoRA summarisation scripts report it, in percent.

`rouge_score.RougeScorer(..., use_stemmer=True)` per (prediction, reference) pair, aggregated with
`rouge_score.scoring.BootstrapAggregator` (1,000 resamples, 95% interval) and reported as the `mid` F-measure
x 100, which is what `evaluate.load("rouge")` / `datasets.load_metric("rouge")` return with
`use_stemmer=True` (evaluate's default is False; the scripts pass True). ROUGE-Lsum needs one sentence per
line: texts are split with a sentence splitter first (tasks/sentences.py; the scripts used nltk's Punkt).

The bootstrap draws from numpy's global generator; we seed it (`seed`) for the call and put the caller's state
back, so the same predictions always give the same numbers and training randomness is untouched.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from rouge_score import rouge_scorer, scoring

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def prepare_text(text: str, splitter: Callable[[str], list[str]]) -> str:
    """Strip, split into sentences, one sentence per line (as the scripts' postprocess_text)."""
    return "\n".join(splitter(text.strip()))


def rouge(predictions: Sequence[str], references: Sequence[str], splitter: Callable[[str], list[str]] | None = None,
          seed: int = 0, n_samples: int = 1000) -> dict[str, float]:
    """Mid F-measure x 100 of rouge1, rouge2, rougeL, rougeLsum, with the Porter stemmer."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not predictions:
        raise ValueError("ROUGE needs at least one prediction")
    if splitter is not None:
        predictions = [prepare_text(p, splitter) for p in predictions]
        references = [prepare_text(r, splitter) for r in references]
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    aggregator = scoring.BootstrapAggregator(n_samples=n_samples)
    for pred, ref in zip(predictions, references):
        aggregator.add_scores(scorer.score(ref, pred))  # rouge-score takes (target, prediction)
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        result = aggregator.aggregate()
    finally:
        np.random.set_state(state)
    return {name: 100.0 * float(result[name].mid.fmeasure) for name in ROUGE_TYPES}
