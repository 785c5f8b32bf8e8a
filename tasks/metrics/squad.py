"""SQuAD scoring as the official evaluation scripts define it (v1.1 and v2.0), in percent.

Written from the scripts' definitions, not copied: an answer is normalised by lower-casing, removing
punctuation (Python's `string.punctuation`), removing the articles a/an/the and squeezing white space.
Exact match compares normalised strings; F1 counts the common tokens of the normalised strings. Each question
scores the maximum over its gold answers; the dataset score is the mean over questions, x 100.

The two versions differ in corner cases, kept here as the scripts have them:
- v1.1: a prediction and a gold answer that both normalise to nothing have F1 0 (no common tokens) but
  exact match 1; a question without a prediction scores 0.
- v2.0: gold answers that normalise to nothing are dropped, and a question left without gold answers is
  unanswerable, its only gold answer the empty string; F1 is 1 when prediction and gold are both empty and 0
  when only one is; every question needs a prediction. HasAns_* / NoAns_* restrict the mean to answerable /
  unanswerable questions; best_exact / best_f1 (with their thresholds) are what the official script reports
  when given no-answer scores (`--na-prob-file`), found by sweeping the threshold over those scores.
"""
from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence

from ..errors import DataError

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation, drop articles, squeeze white space (in that order, as the scripts do)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_v1(prediction: str, gold: str) -> float:
    """Token F1 as the v1.1 script computes it: 0 whenever no token is shared (also when both are empty)."""
    return _f1(normalize_answer(prediction).split(), normalize_answer(gold).split())


def f1_v2(prediction: str, gold: str) -> float:
    """Token F1 as the v2.0 script computes it: if either side is empty, 1 when both are, else 0."""
    pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    return _f1(pred_tokens, gold_tokens)


def _f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_v1(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """`exact_match` and `f1` over the questions of `references` (id -> gold answer texts)."""
    if not references:
        raise DataError("SQuAD scoring needs at least one question")
    em = f1 = 0.0
    for qid, golds in references.items():
        if qid not in predictions:  # the v1.1 script: "Unanswered question will receive score 0"
            continue
        pred = predictions[qid]
        em += max(exact_match(pred, g) for g in golds)
        f1 += max(f1_v1(pred, g) for g in golds)
    n = len(references)
    return {"exact_match": 100.0 * em / n, "f1": 100.0 * f1 / n}


def v2_gold_answers(golds: Sequence[str]) -> list[str]:
    """The v2.0 script's gold list: answers that normalise to nothing are dropped; none left means unanswerable."""
    kept = [g for g in golds if normalize_answer(g)]
    return kept or [""]


def squad_v2(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]],
             no_answer_scores: Mapping[str, float] | None = None) -> dict[str, float]:
    """`exact`, `f1`, `HasAns_exact`, `HasAns_f1`, `NoAns_exact`, `NoAns_f1` (each group only where it has
    questions) and, given `no_answer_scores` (higher = more likely unanswerable, e.g. the null-score
    difference), `best_exact`, `best_exact_thresh`, `best_f1`, `best_f1_thresh`."""
    if not references:
        raise DataError("SQuAD scoring needs at least one question")
    missing = [qid for qid in references if qid not in predictions]
    if missing:
        raise DataError(f"no prediction for {len(missing)} of {len(references)} questions (e.g. {missing[0]!r}); "
                        f"SQuAD v2.0 scoring needs one per question (the empty string for 'no answer')")
    exact, f1, has_answer = {}, {}, {}
    for qid, golds in references.items():
        golds = v2_gold_answers(golds)
        has_answer[qid] = golds != [""]
        pred = predictions[qid]
        exact[qid] = max(exact_match(pred, g) for g in golds)
        f1[qid] = max(f1_v2(pred, g) for g in golds)

    def mean(scores, ids):
        return 100.0 * sum(scores[q] for q in ids) / len(ids)

    out = {"exact": mean(exact, list(references)), "f1": mean(f1, list(references))}
    for group, ids in (("HasAns", [q for q in references if has_answer[q]]),
                       ("NoAns", [q for q in references if not has_answer[q]])):
        if ids:
            out[f"{group}_exact"] = mean(exact, ids)
            out[f"{group}_f1"] = mean(f1, ids)
    if no_answer_scores is not None:
        for name, scores in (("exact", exact), ("f1", f1)):
            best, thresh = best_threshold(predictions, scores, no_answer_scores, has_answer)
            out[f"best_{name}"], out[f"best_{name}_thresh"] = best, thresh
    return out


def best_threshold(predictions: Mapping[str, str], scores: Mapping[str, float],
                   no_answer_scores: Mapping[str, float], has_answer: Mapping[str, bool]) -> tuple[float, float]:
    """The official sweep: answer "no answer" for every question whose no-answer score is above a threshold;
    start from all-unanswered (score = number of unanswerable questions) and move the threshold up through the
    sorted scores, keeping the best total. Returns (best score in percent, its threshold)."""
    current = best = float(sum(not has for has in has_answer.values()))
    thresh = 0.0
    for qid in sorted(scores, key=lambda q: no_answer_scores[q]):
        if has_answer[qid]:
            diff = scores[qid]
        else:
            diff = -1.0 if predictions[qid] else 0.0
        current += diff
        if current > best:
            best, thresh = current, no_answer_scores[qid]
    return 100.0 * best / len(scores), float(thresh)
