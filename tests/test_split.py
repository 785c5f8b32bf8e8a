"""`python -m tasks.split`: SQuAD split by article, JSONL by row, deterministic, nothing shared."""
import json
import subprocess
import sys

import pytest

from tasks import DataError
from tasks.split import split_jsonl, split_squad


def squad_file(path, articles=5):
    data = {"version": "1.1", "data": [{"title": f"a{i}", "paragraphs": [
        {"context": f"context {i}", "qas": [{"id": f"{i}-{j}", "question": "?", "answers": [
            {"text": "context", "answer_start": 0}]} for j in range(i + 1)]}]} for i in range(articles)]}
    path.write_text(json.dumps(data))
    return path


def test_squad_split_by_article(tmp_path):
    source = squad_file(tmp_path / "all.json")
    counts = split_squad(source, tmp_path / "out", share=0.4, seed=1)
    train = json.loads((tmp_path / "out/train.json").read_text())
    dev = json.loads((tmp_path / "out/dev.json").read_text())
    assert len(dev["data"]) == 2 and len(train["data"]) == 3 and train["version"] == "1.1"
    assert not {a["title"] for a in train["data"]} & {a["title"] for a in dev["data"]}
    assert sum(counts.values()) == 1 + 2 + 3 + 4 + 5
    split_squad(source, tmp_path / "again", share=0.4, seed=1)
    assert (tmp_path / "again/dev.json").read_text() == (tmp_path / "out/dev.json").read_text()


def test_jsonl_split_and_errors(tmp_path):
    source = tmp_path / "all.jsonl"
    source.write_text("\n".join(json.dumps({"i": i}) for i in range(10)) + "\n")
    assert split_jsonl(source, tmp_path / "out") == {"train.jsonl": 8, "validation.jsonl": 2}
    with pytest.raises(DataError, match="must be between 0 and 1"):
        split_jsonl(source, tmp_path / "x", share=1.5)
    source.write_text("{}\nnot json\n")
    with pytest.raises(DataError, match="line 2 is not a JSON object"):
        split_jsonl(source, tmp_path / "x")


def test_command_line(tmp_path, repo):
    source = squad_file(tmp_path / "all.json")
    done = subprocess.run([sys.executable, "-m", "tasks.split", "squad", str(source), str(tmp_path / "out")],
                          cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0 and "questions" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "tasks.split", "squad", str(tmp_path / "nope.json"), str(tmp_path / "o")],
                         cwd=repo, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: cannot read")
