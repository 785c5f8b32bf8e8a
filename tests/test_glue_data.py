"""GLUE loaders: the real files of ../shared/data with the official row counts, and clear errors otherwise."""
import pytest
from omegaconf import OmegaConf

from tasks import DataError, get_task


def load(name, **cfg):
    return get_task(name).load(OmegaConf.create(cfg))


@pytest.mark.shared_data
@pytest.mark.parametrize("name,train,dev", [("cola", 8551, 1043), ("sst2", 67349, 872), ("rte", 2490, 277)])
def test_real_glue_tsvs_have_official_sizes(shared_data, name, train, dev):
    ds = load(name, data_dir=str(shared_data / "glue" / name))
    assert (len(ds["train"]), len(ds["validation"])) == (train, dev)
    assert set(ds["train"]["label"]) == {0, 1}


@pytest.mark.shared_data
def test_rte_tsv_equals_the_hub_parquet(shared_data):
    tsv = load("rte", data_dir=str(shared_data / "glue" / "rte"))["validation"]
    pq = load("rte", data_files={"train": str(shared_data / "glue-parquet/rte/train.parquet"),
                                 "validation": str(shared_data / "glue-parquet/rte/validation.parquet")})["validation"]
    assert tsv["label"] == pq["label"] and tsv["sentence1"] == pq["sentence1"]


def test_shipped_sst2_subset(repo):
    ds = load("sst2", data_dir=str(repo / "data/glue/sst2"))
    assert (len(ds["train"]), len(ds["validation"])) == (5000, 872)


def test_missing_folder_and_wrong_folder_fail_with_one_line(tmp_path, repo):
    with pytest.raises(DataError, match="is not a folder"):
        load("rte", data_dir=str(tmp_path / "nope"))
    with pytest.raises(DataError, match="no train split for rte") as err:
        load("rte", data_dir=str(tmp_path))
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="has no column 'sentence1'"):
        load("rte", data_dir=str(repo / "data/glue/sst2"))


def test_unknown_label_names_the_line(tmp_path):
    (tmp_path / "train.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n")
    (tmp_path / "dev.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n")
    with pytest.raises(DataError, match=r"train.tsv line 2: unknown label 'maybe'"):
        load("rte", data_dir=str(tmp_path))
