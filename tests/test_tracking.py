"""W&B: an offline run holds the run's config, metrics, parameter report and rank pattern, grouped by table cell;
W&B failures never fail a run; only rank 0 logs; logger=none logs nothing."""
import json
import re
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from runners import tracking
from runners.errors import ConfigError
from runners.keys import RunKey
from wandb_file import describe, finished_records, logged, run_record

TINY = ["task=sst2", "method=adalora", "model=tiny-bert", "task.data_dir=data/glue/sst2", "task.max_train_samples=64",
        "task.max_eval_samples=32", "trainer.max_steps=8", "trainer.save_strategy=no", "trainer.logging_steps=2",
        "method.init_rank=4", "method.target_rank=2", "method.t_init=2", "method.t_final=3", "method.delta_t=1",
        "trainer.disable_tqdm=true"]


@pytest.mark.slow
def test_an_offline_wandb_run_holds_the_runs_metrics(repo, tmp_path):
    cmd = [sys.executable, "run.py", *TINY, "logger=wandb", "logger.tags=[smoke]", f"results_dir={tmp_path}/runs",
           f"outputs_dir={tmp_path}/out"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1",
           "WANDB_PROJECT": "suite-test"}
    done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((tmp_path / "runs/tiny-bert/sst2/adalora/r2-from4/seed1.json").read_text())
    runs = list((tmp_path / "out").glob("tiny-bert/sst2/adalora/r2-from4/seed1-*/wandb/offline-run-*/run-*.wandb"))
    assert len(runs) == 1, list((tmp_path / "out").rglob("*"))
    found = finished_records(runs[0])
    assert logged(found, "eval/accuracy")[-1] == pytest.approx(record["metrics"]["accuracy"]), describe(found)
    assert logged(found, "params/trainable")[-1] == record["params"]["trainable"]
    assert logged(found, "steps")[-1] == record["steps"] == 8
    for name, rank in record["rank_pattern"].items():
        assert logged(found, f"rank/{name}")[-1] == rank
    assert len(logged(found, "train/loss")) >= 3  # logging_steps=2 over 8 steps
    run = run_record(found)
    assert run.run_group == "tiny-bert/sst2/adalora/r2-from4" and run.project == "suite-test"
    assert {"task:sst2", "method:adalora", "model:tiny-bert", "smoke"} <= set(run.tags)
    config = {item.key: json.loads(item.value_json) for item in run.config.update}
    assert config["config_hash"] == record["config_hash"]
    assert record["status"] == "ok"


def key() -> RunKey:
    return RunKey(model="tiny-bert", task="rte", method="lora", budget_slug="0.3pct", seed=1, config_hash="abcd1234")


def cfg(**logger):
    return OmegaConf.create({"logger": {"name": "wandb", "project": "p", "entity": None, "mode": "offline",
                                        "dir": None, "tags": [], **logger}, "budget": "0.3%",
                             "hparams": {"name": "none"}})


def test_the_tracker_writes_the_result_to_an_offline_wandb_run(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    tracker = tracking.start(cfg(mode=None), key(), tmp_path / "run")
    assert isinstance(tracker, tracking.WandbTracker)
    tracker.callbacks()[0].on_log(None, type("State", (), {"global_step": 3})(), None, logs={"loss": 0.7, "x": "s"})
    record = {"metrics": {"accuracy": 71.25}, "params": {"trainable": 1234, "trainable_share": 0.01},
              "rank_pattern": {"bert.encoder.layer.0.attention.self.query": 3},
              "rank_layout": {"bert.encoder.layer.0.attention.self.query": ["0", "W_q"]},
              "budget": {"label": "0.3%", "source": "nearest", "sizes": {"rank": 2}}, "steps": 8, "status": "ok"}
    tracker.log_result(record)
    tracker.finish(ok=True)
    assert not tracker.failed
    found = finished_records(next((tmp_path / "run").glob("wandb/offline-run-*/run-*.wandb")))
    def values(name):  # history and summary records each carry it
        values = logged(found, name)
        assert values, f"{name} not in the run file, which holds: {describe(found)}"
        return set(values)

    assert values("eval/accuracy") == {71.25} and values("train/loss") == {0.7}
    assert values("params/trainable") == {1234} and values("budget/rank") == {2}
    assert values("rank/bert.encoder.layer.0.attention.self.query") == {3}
    run = run_record(found)
    assert run.run_group == "tiny-bert/rte/lora/0.3pct" and "budget:0.3%" in run.tags


def test_a_failing_wandb_never_fails_the_run(monkeypatch, tmp_path, caplog):
    import wandb

    def broken(**kwargs):
        raise RuntimeError("api_key not configured (no-tty)")

    monkeypatch.setattr(wandb, "init", broken)
    tracker = tracking.start(cfg(), key(), tmp_path)
    assert type(tracker) is tracking.Tracker and "could not start a run" in caplog.text

    class Run:
        id, summary, finished = "x", {}, None

        def log(self, *a, **k):
            raise OSError("disk full")

        def finish(self, exit_code):
            Run.finished = exit_code

    tracker = tracking.WandbTracker(Run())
    tracker.log({"train/loss": 1.0}, step=1)
    tracker.log_result({"metrics": {"accuracy": 50.0}, "steps": 2})
    tracker.finish(ok=True)
    assert tracker.failed and Run.finished == 0 and caplog.text.count("disk full") == 1


def test_the_session_always_finishes_the_tracker(monkeypatch, tmp_path):
    finished = []

    class Recorder(tracking.Tracker):
        def finish(self, ok):
            finished.append(ok)

    monkeypatch.setattr(tracking, "start", lambda *a: Recorder())
    with pytest.raises(ValueError):
        with tracking.session() as s:
            s.start(cfg(), key(), tmp_path)
            raise ValueError("training crashed")
    with tracking.session() as s:
        s.start(cfg(), key(), tmp_path)
        s.ok = True
    assert finished == [False, True]


def test_only_rank_zero_logs_and_none_logs_nothing(monkeypatch, tmp_path):
    import wandb

    monkeypatch.setattr(wandb, "init", lambda **kw: pytest.fail("wandb.init called"))
    monkeypatch.setenv("RANK", "1")
    assert type(tracking.start(cfg(), key(), tmp_path)) is tracking.Tracker
    monkeypatch.setenv("RANK", "0")
    assert type(tracking.start(cfg(name="none"), key(), tmp_path)) is tracking.Tracker
    with pytest.raises(ConfigError, match="unknown logger 'tensorboard'"):
        tracking.start(cfg(name="tensorboard"), key(), tmp_path)


def test_the_wandb_run_id_is_stable_per_run():
    assert tracking.wandb_run_id(key()) == tracking.wandb_run_id(key())
    other = RunKey(**{**key().__dict__, "seed": 2})
    assert tracking.wandb_run_id(other) != tracking.wandb_run_id(key())
    assert re.fullmatch(r"[0-9a-f]{10}-abcd1234", tracking.wandb_run_id(key()))


def test_wandb_follows_its_environment_unless_a_logger_key_is_given(monkeypatch, tmp_path):
    """WANDB_DIR, WANDB_PROJECT, WANDB_ENTITY, WANDB_MODE and WANDB_TAGS are honoured while the logger keys are left
    null (conf/logger/wandb.yaml); a key given on the command line (logger.project=..., logger.dir=...) wins."""
    from runners.keys import RunKey

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "env-dir"))
    monkeypatch.setenv("WANDB_PROJECT", "env-project")
    monkeypatch.setenv("WANDB_ENTITY", "env-entity")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_TAGS", "from-env, second")
    tracker = tracking.start(cfg(project=None, mode=None), key(), tmp_path / "run")
    assert isinstance(tracker, tracking.WandbTracker)
    tracker.finish(ok=True)
    files = list((tmp_path / "env-dir").glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 1 and not (tmp_path / "run").exists(), list(tmp_path.rglob("*.wandb"))
    run = run_record(finished_records(files[0]))
    assert (run.project, run.entity) == ("env-project", "env-entity")
    assert {"from-env", "second", "task:rte", "method:lora"} <= set(run.tags)

    monkeypatch.setenv("WANDB_MODE", "disabled")  # the command line's logger.mode=offline wins over it
    given = cfg(project="cli-project", entity="cli-entity", mode="offline", dir=str(tmp_path / "cli-dir"),
                tags=["cli-tag"])
    tracker = tracking.start(given, RunKey(**{**key().__dict__, "seed": 2}), tmp_path / "run2")
    tracker.finish(ok=True)
    files = list((tmp_path / "cli-dir").glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 1 and not (tmp_path / "run2").exists(), list(tmp_path.rglob("*.wandb"))
    run = run_record(finished_records(files[0]))
    assert (run.project, run.entity) == ("cli-project", "cli-entity")
    assert {"cli-tag", "from-env", "second"} <= set(run.tags)


def test_without_keys_or_variables_wandb_logs_to_the_suites_project_in_the_run_folder(monkeypatch, tmp_path):
    for name in ("WANDB_DIR", "WANDB_PROJECT", "WANDB_ENTITY", "WANDB_TAGS"):
        monkeypatch.delenv(name, raising=False)
    where = tracking.wandb_settings(cfg(project=None, mode=None).logger, tmp_path / "run")
    assert where["project"] == "adalora-suite" and where["dir"] == str(tmp_path / "run")
    assert where["entity"] is None and where["tags"] == []
