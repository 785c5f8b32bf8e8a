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


@pytest.mark.shared_data
def test_real_qnli_dev_has_official_size(shared_data):
    dev = str(shared_data / "glue/qnli/dev.tsv")
    ds = load("qnli", data_files={"train": dev, "validation": dev})
    assert len(ds["validation"]) == 5463 and set(ds["validation"]["label"]) == {0, 1}


# The layouts of GLUE's own files (headers as GLUE's download script writes them), a few rows each.
MRPC = ("\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
        "1\t702876\t702977\tAmrozi accused his brother .\tReferring to him as \"the witness\" .\n"
        "0\t2108705\t2108831\tYucaipa owned Dominick 's .\tYucaipa bought Dominick 's in 1995 .\n")
STSB = ("index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
        "0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA plane is taking off.\tAn air plane is taking off.\t5.000\n"
        "1\tmain-captions\tMSRvid\t2012test\t0004\tnone\tnone\tA man is playing a flute.\tA man plays a \"flute\".\t3.800\n")
QQP = ("id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
       "133273\t213221\t213222\tHow is the life of a math student?\tWhich level of preparation is enough?\t0\n"
       "402555\t536040\t536041\tHow do I control my emotions?\tHow do you control your emotions?\t1\n"
       "363362\t711\tHow can I\n")  # a row cut short, as in the original QQP release
MNLI_HEAD = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"
             "sentence2_parse\tsentence1\tsentence2")
MNLI_TRAIN = (MNLI_HEAD + "\tlabel1\tgold_label\n"
              "0\t31193\t31193n\tgovernment\t( x )\t( y )\t(ROOT x)\t(ROOT y)\tConceptually cream skimming has two "
              "dimensions.\tProduct and geography are what make cream skimming work.\tneutral\tneutral\n")
MNLI_DEV = (MNLI_HEAD + "\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label\n"
            "0\t63735\t63735n\tslate\t( x )\t( y )\t(ROOT x)\t(ROOT y)\tThe new rights are nice enough\t"
            "Everyone really likes the newest benefits\tneutral\tentailment\tneutral\tneutral\tneutral\tneutral\n"
            "1\t91383\t91383c\tgovernment\t( x )\t( y )\t(ROOT x)\t(ROOT y)\tThis site includes a list.\t"
            "The site has no list.\tcontradiction\tcontradiction\tcontradiction\tcontradiction\tcontradiction\tcontradiction\n")


def _folder(tmp_path, files):
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return str(tmp_path)


def test_mrpc_layout_with_byte_order_mark(tmp_path):
    ds = load("mrpc", data_dir=_folder(tmp_path, {"train.tsv": MRPC, "dev.tsv": MRPC}))
    assert ds["train"]["label"] == [1, 0] and ds["train"]["sentence2"][0] == 'Referring to him as "the witness" .'


def test_stsb_is_regression_with_float_scores(tmp_path):
    task = get_task("stsb")
    ds = load("stsb", data_dir=_folder(tmp_path, {"train.tsv": STSB, "dev.tsv": STSB}))
    assert task.is_regression and task.num_labels == 1 and task.kind == "regression"
    assert ds["validation"]["label"] == pytest.approx([5.0, 3.8])
    assert ds["validation"]["sentence2"][1] == 'A man plays a "flute".'


def test_qqp_skips_rows_cut_short(tmp_path):
    ds = load("qqp", data_dir=_folder(tmp_path, {"train.tsv": QQP, "dev.tsv": QQP}))
    assert ds["train"]["label"] == [0, 1] and ds["train"]["question2"][1] == "How do you control your emotions?"
    with pytest.raises(DataError, match="line 4 has 3 fields"):  # other tasks stay strict
        (tmp_path / "rte").mkdir()
        load("rte", data_dir=_folder(tmp_path / "rte", {"train.tsv": QQP.replace("question1", "sentence1")
                                                            .replace("question2", "sentence2")
                                                            .replace("is_duplicate", "label"), "dev.tsv": ""}))


def test_mnli_matched_and_mismatched(tmp_path):
    folder = _folder(tmp_path, {"train.tsv": MNLI_TRAIN, "dev_matched.tsv": MNLI_DEV, "dev_mismatched.tsv": MNLI_DEV})
    ds = load("mnli", data_dir=folder)
    assert set(ds) == {"train", "validation_matched", "validation_mismatched"}
    assert ds["train"]["label"] == [1] and ds["validation_matched"]["label"] == [1, 2]  # neutral, contradiction
    assert ds["validation_mismatched"]["premise"][1] == "This site includes a list."
    assert get_task("mnli").paper_metrics == ("accuracy", "accuracy_mm")


@pytest.mark.parametrize("task", ["rte", "squad", "xsum"])
def test_composed_task_config_without_local_files_reads_the_hub(monkeypatch, repo, task):
    """The shipped task configs list data_files.<split>: null; that must still mean "from the Hub" (the Hub itself
    cannot be reached here, so the loader is replaced by a recorder)."""
    import datasets
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    import tasks.sources

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(repo / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[f"task={task}", "method=lora"]).task
    calls = []

    def fake_hub(hub_id, config, revision, **where):  # where: the local way out named in the error line
        calls.append((hub_id, config, revision))
        spec = get_task(task)
        columns = {c: ["x"] for c in ("sentence1", "sentence2", "document", "summary", "id", "title", "context",
                                      "question")}
        columns["label"] = [0]
        columns["answers"] = [{"text": ["x"], "answer_start": [0]}]
        ds = datasets.Dataset.from_dict(columns)
        return datasets.DatasetDict({s: ds for s in ("train",) + tuple(spec.eval_splits)})

    monkeypatch.setattr(tasks.sources, "load_from_hub", fake_hub)
    raw = get_task(task).load(cfg)
    assert calls == [(cfg.hub_id, cfg.hub_config, cfg.revision)]
    assert set(raw) == {"train", *get_task(task).eval_splits}
