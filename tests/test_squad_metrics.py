"""SQuAD EM/F1 against values worked out by hand from the official scripts' definitions."""
import pytest

from tasks import DataError
from tasks.metrics.squad import exact_match, f1_v1, f1_v2, normalize_answer, squad_v1, squad_v2


@pytest.mark.parametrize("text,normalised", [
    ("The  Quick, brown fox!", "quick brown fox"),      # lower, punctuation, article, white space
    ("an apple a day", "apple day"),                    # every article, as a whole word only
    ("theater Anthem", "theater anthem"),               # "the"/"an" inside words stay
    ("A.B.C.", "abc"),                                   # punctuation is deleted, not turned into spaces
    ("don't stop", "dont stop"),
    ("1990\u20131995", "1990\u20131995"),               # an en dash is not in string.punctuation
    ("the", ""),
    ("  ", ""),
])
def test_normalisation(text, normalised):
    assert normalize_answer(text) == normalised


def test_exact_match_after_normalisation():
    assert exact_match("The Eiffel Tower", "eiffel tower!") == 1.0
    assert exact_match("1990-1995", "1990\u20131995") == 0.0


def test_token_f1():
    # pred tokens [cat, sat, on, mat], gold [cat, on, mat]: 3 shared, P = 3/4, R = 1 -> F1 = 6/7
    assert f1_v1("the cat sat on the mat", "a cat on a mat") == pytest.approx(6 / 7)
    # repeated tokens count with multiplicity: x x y vs x y y share one x and one y -> P = R = 2/3
    assert f1_v1("x x y", "x y y") == pytest.approx(2 / 3)
    assert f1_v1("paris", "london") == 0.0


def test_empty_answers_differ_between_v1_and_v2():
    # both normalise to nothing: v1.1 has no common token -> F1 0 (but EM 1); v2.0 says F1 1
    assert exact_match("the", "a") == 1.0
    assert f1_v1("the", "a") == 0.0
    assert f1_v2("the", "a") == 1.0
    assert f1_v2("", "an answer") == 0.0 and f1_v2("an answer", "") == 0.0


def test_squad_v1_max_over_golds_and_missing_predictions():
    refs = {"q1": ["Denver Broncos", "The Broncos"], "q2": ["Carolina Panthers"], "q3": ["Santa Clara"]}
    preds = {"q1": "the broncos", "q2": "Panthers"}  # q3 unanswered: scores 0
    out = squad_v1(preds, refs)
    assert out["exact_match"] == pytest.approx(100 / 3)
    # q1 F1 1; q2 pred [panthers] vs [carolina, panthers]: P 1, R 1/2 -> 2/3; q3 0
    assert out["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)


def test_squad_v2_unanswerable_and_breakdowns():
    refs = {"q1": ["Paris"], "q2": [], "q3": ["the"], "q4": ["Rome", "rome city"]}
    # q2 has no gold and q3's gold normalises to nothing: both are unanswerable
    preds = {"q1": "Paris", "q2": "", "q3": "Milan", "q4": "city of rome"}
    out = squad_v2(preds, refs)
    # exact: q1 1, q2 1, q3 0, q4 0
    assert out["exact"] == pytest.approx(50.0)
    # f1 q4: [city, of, rome] vs [rome] P 1/3 R 1 -> 1/2; vs [rome, city] P 2/3 R 1 -> 4/5 -> max 0.8
    assert out["f1"] == pytest.approx(100 * (1 + 1 + 0 + 0.8) / 4)
    assert out["HasAns_exact"] == pytest.approx(50.0) and out["HasAns_f1"] == pytest.approx(90.0)
    assert out["NoAns_exact"] == pytest.approx(50.0) and out["NoAns_f1"] == pytest.approx(50.0)
    assert "best_exact" not in out


def test_squad_v2_best_threshold_sweep():
    refs = {"q1": ["Paris"], "q2": [], "q3": []}
    preds = {"q1": "Paris", "q2": "", "q3": "x"}
    na = {"q1": 0.1, "q2": 0.5, "q3": 0.9}
    out = squad_v2(preds, refs, na)
    # start with all "no answer": 2 right. q1 (0.1) answered right: 3 -> best, threshold 0.1;
    # q2 (0.5) pred empty: +0; q3 (0.9) pred non-empty on an unanswerable question: -1
    assert out["best_exact"] == pytest.approx(100.0) and out["best_exact_thresh"] == pytest.approx(0.1)
    assert out["exact"] == pytest.approx(200 / 3)


def test_squad_v2_needs_every_prediction():
    with pytest.raises(DataError, match="no prediction for 1 of 2 questions"):
        squad_v2({"q1": ""}, {"q1": [], "q2": ["a b"]})
