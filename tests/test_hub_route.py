"""The paper's path as users type it, through the Hugging Face Hub, offline.

A Hub mirror on 127.0.0.1 (tests/hub_mirror.py) serves tiny stand-ins of the paper's repositories under their real
names (tests/hub_repos.py), each answering only under the revision the suite's configs pin; the README's own paper
commands then run through the unchanged loading path (`from_pretrained` / `load_dataset` by name and revision, over
HTTP through HF_ENDPOINT, into an empty Hugging Face cache) to a record, for MNLI, SQuAD v2.0 and XSum. Only
lengths, step and example counts (and the AdaLoRA schedule's step counts, which must fit the shorter run) are
overridden. A half-populated cache and an unreachable Hub each end in one line naming what is missing and the two
ways out.

The runs are started together (one process each) by session fixtures and checked by separate tests.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import hub_repos
from hub_mirror import HubMirror, Repo

REPO = Path(__file__).resolve().parent.parent
CONF = REPO / "conf"

# Shorter runs of the README's commands: lengths, steps, example counts; the schedule's steps fit 4 steps.
FAST = {
    "mnli": ["trainer.max_steps=4", "task.max_train_samples=32", "task.max_eval_samples=16",
             "task.max_seq_length=64", "paper.t_init=1", "paper.t_final=1", "paper.delta_t=1"],
    "squad_v2": ["trainer.max_steps=4", "task.max_train_samples=16", "task.max_eval_samples=8",
                 "task.max_seq_length=64", "task.doc_stride=32", "paper.t_init=1", "paper.t_final=1",
                 "paper.delta_t=1"],
    "xsum": ["trainer.max_steps=2", "task.max_train_samples=64", "task.max_eval_samples=4",
             "task.max_source_length=64", "task.max_target_length=16", "task.generation.max_length=16",
             "paper.t_init=0", "paper.t_final=1", "paper.delta_t=1"],
}
COMMON = ["trainer.disable_tqdm=true", "trainer.save_strategy=no", "trainer.logging_steps=1"]


def readme_commands() -> dict[str, list[str]]:
    """The README's paper commands with the paper's settings (`python run.py task=T ... hparams=scripts`), by task."""
    found = {}
    for line in (REPO / "README.md").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("python run.py task=") and "hparams=scripts" in line:
            args = shlex.split(line)[2:]
            found.setdefault(args[0].split("=", 1)[1], args)
    return found


def pinned(group: str, name: str) -> tuple[str, str | None]:
    """(Hub id, revision) as conf/<group>/<name>.yaml pins them."""
    cfg = OmegaConf.load(CONF / group / f"{name}.yaml")
    return (cfg.get("hub_id") or cfg.get("name_or_path")), cfg.get("revision")


def repo(kind: str, repo_id: str, revision: str | None, folder: Path) -> Repo:
    """A mirror repository answering only under `revision` (a commit hash, or a named ref), or main if None."""
    if revision is not None and re.fullmatch(r"[0-9a-f]{40}", revision):
        return Repo.from_folder(kind, repo_id, folder, sha=revision, revisions=())
    return Repo.from_folder(kind, repo_id, folder, revisions=(revision or "main",))


@pytest.fixture(scope="session")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    text = hub_repos.sentences()
    (deberta_id, deberta_rev), (bart_id, bart_rev) = pinned("model", "deberta-v3-base"), pinned("model", "bart-large")
    (glue_id, glue_rev), (squad_id, squad_rev), (xsum_id, xsum_rev) = (
        pinned("task", "mnli"), pinned("task", "squad_v2"), pinned("task", "xsum"))
    repos = [repo("model", deberta_id, deberta_rev, hub_repos.deberta_v3_base(root / "deberta", text)),
             repo("model", bart_id, bart_rev, hub_repos.bart_large(root / "bart", text)),
             repo("dataset", glue_id, glue_rev, hub_repos.glue(root / "glue", text)),
             repo("dataset", squad_id, squad_rev, hub_repos.squad_v2(root / "squad_v2", text)),
             repo("dataset", xsum_id, xsum_rev, hub_repos.xsum_parquet_export(root / "xsum", text, n=64))]
    with HubMirror(repos) as mirror:
        yield mirror


def env(home: Path, **extra) -> dict:
    """A user's shell: network allowed (the test session itself runs offline), an empty cache of its own."""
    out = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT")}
    out.update(HF_HOME=str(home / "hf"), HOME=str(home), OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", WANDB_MODE="disabled", **extra)
    return out


def start(args: list[str], home: Path, results: str = "runs", **extra) -> subprocess.Popen:
    home.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "run.py", *args, f"results_dir={home}/{results}", f"outputs_dir={home}/out-{results}"]
    return subprocess.Popen(cmd, cwd=REPO, env=env(home, **extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(proc: subprocess.Popen, timeout: float = 900) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture(scope="session")
def launched(hub, tmp_path_factory):
    """Every run of this file, started at once (each is mostly imports; together they share the cores):
    - the README's MNLI, SQuAD v2.0 and XSum commands (hparams=scripts) through the mirror, each into an empty cache;
    - three users without the Hub: no network at all (nothing listens at HF_ENDPOINT); HF_HUB_OFFLINE=1 and an
      empty cache; HF_HUB_OFFLINE=1 and a cache holding the tokenizer of microsoft/deberta-v3-base but not its
      weights."""
    import huggingface_hub

    commands = readme_commands()
    assert {"mnli", "squad_v2", "xsum"} <= set(commands), f"README's paper commands: {commands}"
    users, offline = tmp_path_factory.mktemp("user"), tmp_path_factory.mktemp("offline")
    half = offline / "half"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # this session runs offline
        huggingface_hub.snapshot_download("microsoft/deberta-v3-base", cache_dir=half / "hf/hub", endpoint=hub.url,
                                          revision=pinned("model", "deberta-v3-base")[1],
                                          allow_patterns=["*.json", "spm.model"])
    rte = ["task=rte", "method=adalora", "budget=0.3%", "task.data_dir=data/glue/rte", "trainer.max_steps=2"]
    procs = {task: (start([*commands[task], *FAST[task], *COMMON], users / task, HF_ENDPOINT=hub.url), users / task)
             for task in ("mnli", "squad_v2", "xsum")}
    procs.update({
        "no network": (start(rte, offline / "nonet", HF_ENDPOINT="http://127.0.0.1:9"), offline / "nonet"),
        "offline, no data": (start(["task=mnli", "method=adalora", "budget=0.3%"], offline / "empty",
                                   HF_HUB_OFFLINE="1"), offline / "empty"),
        "offline, half a model": (start(rte, half, HF_HUB_OFFLINE="1"), half),
    })
    started = time.monotonic()
    done = {name: (finish(proc), home) for name, (proc, home) in procs.items()}
    print(f"{len(done)} runs at once: {time.monotonic() - started:.0f} s")
    return done


@pytest.fixture(scope="session")
def paper_runs(launched):
    return {task: launched[task] for task in ("mnli", "squad_v2", "xsum")}


@pytest.fixture(scope="session")
def failed_runs(launched):
    return {name: launched[name][0] for name in ("no network", "offline, no data", "offline, half a model")}


def test_the_readmes_first_command_is_the_papers_run():
    commands = [line.split("#", 1)[0].strip() for line in (REPO / "README.md").read_text().splitlines()
                if "run.py" in line.split("#", 1)[0]]
    assert commands[0] == "python run.py task=mnli method=adalora budget=0.3%", commands[:3]
    text = (REPO / "README.md").read_text()
    assert text.index("source .venv/bin/activate") < text.index(commands[0])


def the_record(home: Path) -> dict:
    records = list((home / "runs").rglob("seed*.json"))
    assert len(records) == 1, records
    return json.loads(records[0].read_text())


@pytest.mark.parametrize("task,model,metrics", [
    ("mnli", "deberta-v3-base", ("accuracy", "accuracy_mm")),
    ("squad_v2", "deberta-v3-base", ("exact", "f1", "HasAns_f1", "NoAns_f1")),
    ("xsum", "bart-large", ("rouge1", "rouge2", "rougeLsum")),
])
def test_the_readme_paper_command_runs_through_the_hub_to_a_record(paper_runs, hub, task, model, metrics):
    done, home = paper_runs[task]
    assert done.returncode == 0, done.stderr[-4000:]
    record = the_record(home)
    assert (record["status"], record["task"], record["model"]) == ("ok", task, model)
    assert all(record["metrics"].get(m) is not None for m in metrics), record["metrics"]
    assert record["config"]["hparams"]["name"] == "scripts"
    hub_id, revision = pinned("task", task)
    assert record["config"]["task"]["revision"] == revision and record["config"]["task"]["hub_id"] == hub_id
    # the data and the model came over HTTP from the mirror, under the pinned revision (the cache was empty)
    quoted = revision.replace("/", "%2F")
    assert any(f"/datasets/{hub_id}/resolve/{quoted}/" in path for _, path in hub.requests), hub.requests
    name_or_path, model_revision = pinned("model", model)
    assert record["config"]["model"]["name_or_path"] == name_or_path
    assert any(path.startswith(f"/{name_or_path}/resolve/{model_revision or 'main'}/") for _, path in hub.requests)
    assert (home / "hf/hub" / f"models--{name_or_path.replace('/', '--')}").is_dir()


def test_the_paper_settings_reach_the_hub_model(paper_runs):
    """hparams=scripts sets DeBERTa's classifier dropout, a key the Hub's config.json lacks (it once crashed
    from_pretrained); the scripts' seed and batch are what the record holds."""
    record = the_record(paper_runs["mnli"][1])
    assert record["config"]["model"]["overrides"]["cls_dropout"] == 0.15
    assert record["seed"] == 6 and record["batch"]["global"] == 32, record["batch"]
    xsum = the_record(paper_runs["xsum"][1])
    assert xsum["config"]["task"]["generation"]["num_beams"] == 8 and xsum["seed"] == 9


def test_loading_the_papers_model_asks_the_hub_for_no_safetensors_conversion(paper_runs, hub):
    """microsoft/deberta-v3-base holds only pytorch_model.bin; transformers then starts a thread asking the Hub's
    conversion Space to open a pull request on the model's repository. The suite switches that off."""
    assert paper_runs["mnli"][0].returncode == 0
    asked = [path for _, path in hub.requests if "/commits/" in path or "/discussions" in path]
    assert not asked, asked


def test_the_model_keeps_the_paper_dropout(hub, tmp_path, monkeypatch):
    """In-process: the model built from the Hub's config carries the override (the classifier's dropout is 0.15)."""
    import huggingface_hub

    from runners.models import build_model

    folder = tmp_path / "deberta"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # this session runs offline
    huggingface_hub.snapshot_download("microsoft/deberta-v3-base", local_dir=folder, endpoint=hub.url,
                                      revision=pinned("model", "deberta-v3-base")[1])
    cfg = OmegaConf.create({"name": "deberta-v3-base", "name_or_path": str(folder), "revision": None,
                            "config": None, "overrides": {"cls_dropout": 0.15}})
    task = type("Task", (), {"kind": "classification", "num_labels": 3, "name": "mnli"})()
    model = build_model(cfg, task, tokenizer=None)
    assert model.config.num_labels == 3 and model.dropout.p == 0.15


# --- what a user without the Hub meets -------------------------------------------------------------------------
def one_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr[-3000:]
    return errors[0]


@pytest.mark.parametrize("case,names,ways", [
    ("no network", ["tokenizer of microsoft/deberta-v3-base", "cannot be reached"],
     ["run once with access to the Hub", "model.name_or_path=DIR"]),
    ("offline, no data", ["dataset nyu-mll/glue (config mnli) (revision a3f3ab759b9d7018046ce361f115ef38276d2e1e)",
                          "HF_HUB_OFFLINE=1"],
     ["run once with access to the Hub", "unset HF_HUB_OFFLINE", "task.data_dir=DIR with MNLI's train.tsv"]),
    ("offline, half a model", ["model microsoft/deberta-v3-base", "not (fully) in the local Hugging Face cache"],
     ["run once with access to the Hub", "model.name_or_path=DIR", "hf download microsoft/deberta-v3-base"]),
])
def test_without_the_hub_a_user_gets_one_line_naming_what_is_missing_and_the_ways_out(failed_runs, case, names,
                                                                                       ways):
    line = one_line(failed_runs[case])
    for part in names + ways:
        assert part in line, line


@pytest.mark.slow
def test_a_cache_filled_online_serves_the_same_command_offline(paper_runs):
    """The cluster workflow: run once where the Hub is reachable, then the same command with HF_HUB_OFFLINE=1 (and
    nothing listening at HF_ENDPOINT) reads the model and the dataset at the pinned revisions from the cache."""
    done, home = paper_runs["mnli"]
    assert done.returncode == 0, done.stderr[-3000:]
    again = finish(start([*readme_commands()["mnli"], *FAST["mnli"], *COMMON], home, results="offline-runs",
                         HF_HUB_OFFLINE="1", HF_ENDPOINT="http://127.0.0.1:9"), timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    (record,) = [json.loads(p.read_text()) for p in (home / "offline-runs").rglob("seed*.json")]
    first = the_record(home)
    assert record["status"] == "ok" and record["config_hash"] == first["config_hash"]
    assert record["metrics"] == first["metrics"]


def test_a_wrong_revision_or_repository_is_named_as_such(hub, tmp_path, monkeypatch):
    """The Hub's own 404s (through the mirror, which answers as the Hub does) become the line's reason: no such
    revision, or no such (or a private) repository; the ways out stay the same."""
    import huggingface_hub

    from tasks.hub import hub_failure

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # this session runs offline
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)

    def error(repo_id, revision):
        with pytest.raises(Exception) as caught:
            huggingface_hub.hf_hub_download(repo_id, "config.json", revision=revision, endpoint=hub.url,
                                            cache_dir=tmp_path)
        return caught.value

    line = hub_failure("model", "microsoft/deberta-v3-base", "f" * 40,
                       error("microsoft/deberta-v3-base", "f" * 40), "set model.name_or_path=DIR")
    assert line == (f"model microsoft/deberta-v3-base (revision {'f' * 40}) has no revision {'f' * 40} on the Hub "
                    f"({hub.url}): run once with access to the Hub to download it into the cache, or set "
                    "model.name_or_path=DIR")
    line = hub_failure("model", "microsoft/deberta-v3-bass", None, error("microsoft/deberta-v3-bass", None), "x")
    assert f"model microsoft/deberta-v3-bass is not on the Hub ({hub.url}), or is private" in line
