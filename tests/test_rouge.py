"""ROUGE equals rouge-score called directly, stemming is on, ROUGE-Lsum uses the sentence splitter, and
nothing tries to download NLTK data."""
import numpy as np
import pytest
from rouge_score import rouge_scorer, scoring

from tasks import DataError
from tasks.metrics.rouge import ROUGE_TYPES, rouge
from tasks.sentences import get_splitter, split_regex

PREDS = ["The cat sat on the mat. It was happy.", "Stocks fell sharply on Monday.", "A new bridge opens."]
REFS = ["A cat was sitting on a mat. The cat purred.", "Shares dropped on Monday after the report.",
        "The city opened its new bridge on Sunday."]


def test_equals_rouge_score_called_directly():
    ours = rouge(PREDS, REFS, split_regex, seed=3)
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    aggregator = scoring.BootstrapAggregator()
    for p, r in zip(PREDS, REFS):
        aggregator.add_scores(scorer.score("\n".join(split_regex(r)), "\n".join(split_regex(p))))
    np.random.seed(3)
    direct = aggregator.aggregate()
    assert ours == {k: pytest.approx(100 * direct[k].mid.fmeasure) for k in ROUGE_TYPES}


def test_bootstrap_is_seeded_and_leaves_the_global_generator_alone():
    np.random.seed(11)
    expected_next = np.random.rand()
    np.random.seed(11)
    a = rouge(PREDS, REFS, split_regex)
    assert np.random.rand() == expected_next
    assert rouge(PREDS, REFS, split_regex) == a


def test_hand_computed_values():
    # one pair: every bootstrap resample is that pair, so mid = its F-measure
    # pred [the, cat, sat], ref [the, cat, wa(s), sit(ting)]: 2 shared, P 2/3, R 1/2 -> F 4/7
    assert rouge(["the cat sat"], ["the cat was sitting"])["rouge1"] == pytest.approx(100 * 4 / 7)
    # the Porter stemmer maps cats/cat and running/runs to one stem
    assert rouge(["cats running"], ["cat runs"])["rouge1"] == pytest.approx(100.0)


def test_rouge_lsum_scores_sentence_by_sentence():
    pred, ref = ["alpha beta. gamma delta."], ["gamma delta. alpha beta."]
    split = rouge(pred, ref, get_splitter("regex"))
    whole = rouge(pred, ref, get_splitter("none"))
    # LCS over the whole text is 2 of 4 tokens; per sentence both sentences match fully
    assert split["rougeL"] == pytest.approx(50.0) and whole["rougeL"] == pytest.approx(50.0)
    assert split["rougeLsum"] == pytest.approx(100.0) and whole["rougeLsum"] == pytest.approx(50.0)


def test_regex_splitter():
    text = 'He was vilified by the community.Dr Venter said no. "Is it?" He left!\nNew line'
    assert split_regex(text) == ["He was vilified by the community.", "Dr Venter said no.", '"Is it?"',
                                 "He left!", "New line"]


def test_no_download_is_attempted(monkeypatch):
    import nltk

    def refuse(*args, **kwargs):
        raise AssertionError("an NLTK data download or lookup was attempted")

    monkeypatch.setattr(nltk, "download", refuse)
    monkeypatch.setattr(nltk.data, "find", refuse)
    monkeypatch.setattr(nltk.data, "load", refuse)
    from tasks import get_task

    out = get_task("xsum").compute_metrics(PREDS, REFS)  # the default splitter
    assert set(ROUGE_TYPES) <= set(out)


def test_nltk_splitter_without_data_fails_with_one_line(monkeypatch):
    import nltk

    def missing(*args, **kwargs):
        raise LookupError("Resource punkt_tab not found.\n  Please use the NLTK Downloader ...")

    monkeypatch.setattr(nltk, "sent_tokenize", missing)
    with pytest.raises(DataError, match="needs NLTK's Punkt data") as err:
        rouge(PREDS, REFS, get_splitter("nltk"))
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="unknown sentence splitter 'punkt'"):
        get_splitter("punkt")
