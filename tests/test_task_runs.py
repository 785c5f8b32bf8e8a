"""QA and summarisation end to end: the runner trains, post-processes or generates, scores and records.

Fast: in-process with tiny models built from configs on a handful of hand-made examples. Slow (real data):
the command line on the SQuAD subset with MiniLM and on the XSum subset with a tiny BART, each split into
train/validation files with `python -m tasks.split`, as the README shows."""
import json
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from runners.cli import CONF
from runners.records import REQUIRED
from tasks import DataError

SCHEDULE = ["method=adalora", "method.init_rank=4", "method.target_rank=2", "method.t_init=1", "method.t_final=1",
            "method.delta_t=1", "trainer.save_strategy=no", "trainer.disable_tqdm=true", "trainer.logging_steps=1"]

CONTEXT = ("The Eiffel Tower is a wrought-iron lattice tower in Paris. It was designed by the company of "
           "Gustave Eiffel and built from 1887 to 1889 as the entrance to the 1889 World's Fair.")
QUESTIONS = [("Where is the tower?", "Paris"), ("Who designed it?", "Gustave Eiffel"),
             ("When was it built?", "1887 to 1889"), ("What is it made of?", "wrought-iron")]
DOCS = [("The city council voted on Monday to build a new bridge over the river. Work starts next year.",
         "A new bridge will be built over the river."),
        ("Heavy rain caused flooding across the region on Sunday. Several roads were closed.",
         "Floods closed roads across the region."),
        ("The football club announced its new manager after a long search. He signs a three-year deal.",
         "The club has appointed a new manager.")]


def run_in_process(tmp_path, *overrides):
    from runners.run import run

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[*overrides, f"results_dir={tmp_path}/runs", f"outputs_dir={tmp_path}/out"])
    return run(cfg)


def squad_folder(tmp_path, version="1.1"):
    folder = tmp_path / "squad"
    folder.mkdir()
    qas = [{"id": f"q{i}", "question": q, "answers": [{"text": a, "answer_start": CONTEXT.index(a)}]}
           for i, (q, a) in enumerate(QUESTIONS)]
    if version != "1.1":
        qas.append({"id": "q-none", "question": "Who painted it?", "answers": [], "is_impossible": True})
    data = {"version": version, "data": [{"title": "Eiffel_Tower", "paragraphs": [{"context": CONTEXT, "qas": qas}]}]}
    suffix = "v1.1" if version == "1.1" else "v2.0"
    for split in ("train", "dev"):
        (folder / f"{split}-{suffix}.json").write_text(json.dumps(data))
    return folder


@pytest.mark.parametrize("task,version,metrics", [
    ("squad", "1.1", {"exact_match", "f1"}),
    ("squad_v2", "v2.0", {"exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1",
                          "best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh"}),
])
def test_squad_runs_with_a_tiny_model(tmp_path, task, version, metrics):
    folder = squad_folder(tmp_path, version)
    record = run_in_process(tmp_path, f"task={task}", "model=tiny-bert", f"task.data_dir={folder}",
                            "task.max_seq_length=48", "task.doc_stride=16", "trainer.max_steps=3",
                            "trainer.per_device_train_batch_size=4", *SCHEDULE)
    assert record["status"] == "ok" and all(field in record for field in REQUIRED)
    assert set(record["metrics"]) == metrics
    assert all(0 <= v <= 100 for k, v in record["metrics"].items() if not k.endswith("thresh"))
    assert record["eval_examples"] == {"validation": len(QUESTIONS) + (version != "1.1")}
    assert record["train_examples"] > len(QUESTIONS)  # windows, not questions
    assert record["paper_metrics"] == (["exact", "f1"] if version != "1.1" else ["exact_match", "f1"])
    if version != "1.1":
        assert record["baseline"]["kind"] == "always no answer" and record["baseline"]["NoAns_exact"] == 100.0


def test_xsum_runs_with_a_tiny_bart(tmp_path):
    folder = tmp_path / "xsum"
    folder.mkdir()
    for split in ("train", "validation"):
        (folder / f"{split}.jsonl").write_text("\n".join(json.dumps({"bbcid": str(i), "document": d, "summary": s})
                                                         for i, (d, s) in enumerate(DOCS)))
    record = run_in_process(tmp_path, "task=xsum", "model=tiny-bart", f"task.data_dir={folder}",
                            "task.max_source_length=64", "task.max_target_length=16", "task.generation.num_beams=2",
                            "task.generation.max_length=12", "trainer.max_steps=3",
                            "trainer.per_device_train_batch_size=2", *SCHEDULE)
    assert record["status"] == "ok" and all(field in record for field in REQUIRED)
    assert set(record["metrics"]) == {"rouge1", "rouge2", "rougeL", "rougeLsum", "gen_len"}
    assert all(0 <= record["metrics"][k] <= 100 for k in ("rouge1", "rouge2", "rougeL", "rougeLsum"))
    assert 0 < record["metrics"]["gen_len"] <= 12
    assert record["baseline"]["kind"].startswith("lead-1") and record["baseline"]["rouge1"] > 0
    assert record["config"]["task"]["generation"] == {"num_beams": 2, "max_length": 12}


def test_a_length_beyond_the_models_positions_fails_with_one_line(tmp_path):
    from runners.errors import ConfigError

    (tmp_path / "x").mkdir()
    for split in ("train", "validation"):
        (tmp_path / "x" / f"{split}.jsonl").write_text(json.dumps({"document": "d", "summary": "s"}))
    with pytest.raises(ConfigError, match="task.max_source_length=768 is longer than the model's 512 positions"):
        run_in_process(tmp_path, "task=xsum", "model=tiny-bart", f"task.data_dir={tmp_path / 'x'}", *SCHEDULE)


def test_seq2seq_task_on_an_encoder_model_fails_with_one_line(tmp_path):
    from runners.errors import ConfigError

    (tmp_path / "x").mkdir()
    for split in ("train", "validation"):
        (tmp_path / "x" / f"{split}.jsonl").write_text(json.dumps({"document": "d", "summary": "s"}))
    with pytest.raises(ConfigError, match="model tiny-bert has no seq2seq head for task xsum: use an encoder-decoder"):
        run_in_process(tmp_path, "task=xsum", "model=tiny-bert", f"task.data_dir={tmp_path / 'x'}", *SCHEDULE)


@pytest.mark.parametrize("task", ["squad", "xsum", "cnn_dailymail"])
def test_wrong_folder_fails_before_training(tmp_path, repo, task):
    with pytest.raises(DataError, match=f"data/glue/sst2 has no train split for {task}"):
        run_in_process(tmp_path, f"task={task}", "model=tiny-bert", f"task.data_dir={repo}/data/glue/sst2", *SCHEDULE)
    assert not list(tmp_path.glob("runs/**/*.json"))


def cli(repo, tmp_path, *args):
    cmd = [sys.executable, "run.py", *args, f"results_dir={tmp_path}/runs", f"outputs_dir={tmp_path}/out"]
    return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=1200)


def split(repo, fmt, source, out):
    done = subprocess.run([sys.executable, "-m", "tasks.split", fmt, str(source), str(out)], cwd=repo,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
@pytest.mark.shared_data
def test_squad_on_the_real_subset_with_minilm(repo, tmp_path, shared_data):
    split(repo, "squad", shared_data / "squad/xquad-en-v1.1.json", tmp_path / "squad")
    done = cli(repo, tmp_path, "task=squad", "model=minilm", f"task.data_dir={tmp_path}/squad",
               "task.max_seq_length=256", "task.doc_stride=64", "trainer.max_steps=30",
               "trainer.per_device_train_batch_size=8", "trainer.learning_rate=1e-3", "method=adalora",
               "method.init_rank=4", "method.target_rank=2", "method.t_init=10", "method.t_final=10",
               "method.delta_t=5", "trainer.save_strategy=no", "trainer.disable_tqdm=true")
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((tmp_path / "runs/minilm/squad/adalora/r2-from4/seed1.json").read_text())
    assert record["status"] == "ok" and set(record["metrics"]) == {"exact_match", "f1"}
    assert record["eval_examples"] == {"validation": 305}  # 10 of the 48 articles (seed 0)
    print("squad / minilm:", record["metrics"], record["steps"], "steps", record["wall_time_s"], "s")


@pytest.mark.slow
@pytest.mark.shared_data
def test_xsum_on_the_real_subset_with_a_tiny_bart(repo, tmp_path, shared_data):
    split(repo, "jsonl", shared_data / "xsum/test-subset.jsonl", tmp_path / "xsum")
    done = cli(repo, tmp_path, "task=xsum", "model=tiny-bart", f"task.data_dir={tmp_path}/xsum",
               "task.max_source_length=512",  # the tiny BART has 512 positions
               "trainer.max_steps=30", "trainer.per_device_train_batch_size=8", "trainer.learning_rate=1e-3",
               "method=adalora", "method.init_rank=4", "method.target_rank=2", "method.t_init=5",
               "method.t_final=10", "method.delta_t=5", "trainer.save_strategy=no", "trainer.disable_tqdm=true")
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((tmp_path / "runs/tiny-bart/xsum/adalora/r2-from4/seed1.json").read_text())
    assert record["status"] == "ok" and record["eval_examples"] == {"validation": 50}
    assert {"rouge1", "rouge2", "rougeL", "rougeLsum"} <= set(record["metrics"])
    print("xsum / tiny-bart:", record["metrics"], record["steps"], "steps", record["wall_time_s"], "s")
