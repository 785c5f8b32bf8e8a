"""Malformed data files and an unwritable results folder, through the command line: each ends with one line on
stderr (exit 2, no traceback) before training, and leaves nothing behind (no record, no folder, no checkpoint)."""
import os
import subprocess
import sys

import pytest

SST2 = "sentence\tlabel\nit 's a charming journey .\t1\na dull , lifeless film .\t0\n"
ARGS = ["task=sst2", "method=lora", "model=tiny-bert", "trainer.max_steps=2", "trainer.save_strategy=no",
        "trainer.disable_tqdm=true"]


def run_cli(repo, tmp_path, *args, results_dir=None):
    cmd = [sys.executable, "run.py", *ARGS, *args, f"results_dir={results_dir or tmp_path / 'runs'}",
           f"outputs_dir={tmp_path}/out"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=300, env=env)


def assert_one_line(done, message, tmp_path):
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], done.stderr[-2000:]
    assert done.stderr.rstrip().endswith(errors[0]) and "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*"))  # nothing half-written
    assert not (tmp_path / "out").exists()


CASES = {
    "missing-column": ({"train.tsv": SST2.replace("sentence\t", "text\t"), "dev.tsv": SST2},
                       "train.tsv has no column 'sentence'; its header is ['text', 'label']"),
    "empty-file": ({"train.tsv": "", "dev.tsv": SST2}, "train.tsv holds no rows"),
    "unknown-label": ({"train.tsv": SST2 + "a fine film .\t7\n", "dev.tsv": SST2},
                      "train.tsv line 4: unknown label '7'"),
    "bad-json": ({"train.jsonl": '{"sentence": "good", "label": 1, "idx": 0}\n{"sentence": "bad", "label": 0\n',
                  "validation.jsonl": '{"sentence": "good", "label": 1, "idx": 0}\n'},
                 "train.jsonl line 2 is not valid JSON"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_malformed_data_file_ends_with_one_line(repo, tmp_path, case):
    files, message = CASES[case]
    data = tmp_path / "data"
    data.mkdir()
    for name, text in files.items():
        (data / name).write_text(text)
    assert_one_line(run_cli(repo, tmp_path, f"task.data_dir={data}"), message, tmp_path)


def test_an_unwritable_results_folder_stops_before_training(repo, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = run_cli(repo, tmp_path, "task.data_dir=data/glue/sst2", results_dir=blocker / "runs")
    assert_one_line(done, f"cannot write results to {blocker}/runs/tiny-bert/sst2/lora", tmp_path)
    assert "tokenizing" not in done.stdout + done.stderr  # detected before any data is read


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_results_folder_stops_before_training(repo, tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs").chmod(0o500)
    try:
        done = run_cli(repo, tmp_path, "task.data_dir=data/glue/sst2")
    finally:
        (tmp_path / "runs").chmod(0o700)
    assert_one_line(done, "cannot write results to", tmp_path)
