"""The stored config reproduces the stored hash (runners/keys.py, rule 2), for new records and for every committed
one; `python -m runners.rehash` moves rule-1 records only after reproducing their old hash."""
import copy
import json
import subprocess
import sys

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from runners import rehash
from runners.cli import CONF
from runners.keys import NOT_HASHED, config_hash, hash_of


def composed(*overrides) -> dict:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=True)


def test_every_committed_record_reproduces_its_hash(repo):
    done = subprocess.run([sys.executable, "-m", "runners.rehash", "--check", "results"], cwd=repo,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_label_sized_fields_are_not_hashed_when_a_label_is_given():
    config = composed("task=rte", "method=lora", "budget=0.3%")
    resolved = copy.deepcopy(config)
    resolved["method"]["rank"] = 2       # what the label resolves to, written in after the model is loaded
    assert config_hash(config) == config_hash(resolved)
    other = copy.deepcopy(config)
    other["method"]["alpha"] = 8          # any other setting still changes the hash
    assert config_hash(config) != config_hash(other)
    unlabelled = composed("task=rte", "method=lora")
    changed = copy.deepcopy(unlabelled)
    changed["method"]["rank"] = 2         # without a label the rank is a setting like any other
    assert config_hash(unlabelled) != config_hash(changed)


def _rule1_record(path, config: dict, resolved_sizes: dict) -> dict:
    """A record as rule 1 wrote it: the hash of the config before the sizes were written in."""
    stored = copy.deepcopy(config)
    stored["method"].update(resolved_sizes)
    record = {"task": config["task"]["name"], "status": "ok", "config": stored,
              "config_hash": hash_of(config, NOT_HASHED), "git": {"commit": None}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return record


def test_rehash_moves_a_verified_rule1_record_and_leaves_a_doubtful_one(tmp_path):
    config = composed("task=rte", "method=adalora", "budget=83k")
    good = _rule1_record(tmp_path / "a/seed1.json", config, {"target_rank": 2, "init_rank": 4})
    tampered = _rule1_record(tmp_path / "b/seed1.json", config, {"target_rank": 2, "init_rank": 4})
    tampered["config"]["trainer"]["learning_rate"] = 1.0     # a setting changed after the hash: not verifiable
    (tmp_path / "b/seed1.json").write_text(json.dumps(tampered))

    moved, current, problems = rehash.migrate(tmp_path)
    assert (moved, current, len(problems)) == (1, 0, 1) and "b/seed1.json" in problems[0]
    after = json.loads((tmp_path / "a/seed1.json").read_text())
    assert after["config_hash"] == config_hash(after["config"]) != good["config_hash"]
    assert after["config_hash_migrated"] == {"from": good["config_hash"], "rule": 1, "verified_by": "conf/method at HEAD"}
    assert {k: v for k, v in after.items() if not k.startswith("config_hash")} == \
        {k: v for k, v in good.items() if not k.startswith("config_hash")}
    assert json.loads((tmp_path / "b/seed1.json").read_text()) == tampered
    assert rehash.migrate(tmp_path)[0] == 0   # idempotent


def test_a_record_hashed_before_a_setting_was_unhashed_is_verified_and_counts_as_finished(tmp_path):
    """A sweep process that loaded the hash rule before trainer.gradient_checkpointing was unhashed wrote such
    records; the stored config still identifies the run."""
    from omegaconf import OmegaConf

    from runners.plan import finished_record, run_key

    cfg = OmegaConf.create(composed("task=rte", "method=lora", "budget=83k", f"results_dir={tmp_path}"))
    key = run_key(cfg)
    config = OmegaConf.to_container(cfg, resolve=True)
    config["trainer"]["gradient_checkpointing"] = False       # the setting's name then (transformers 5 renamed it)
    old = hash_of(config, (NOT_HASHED - rehash.UNHASHED_LATER) | {"method.rank"})
    assert old != key.config_hash
    path = key.record_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"status": "ok", "config": config, "config_hash": old, "git": {"commit": None}}))
    assert finished_record(cfg, key)["config_hash"] == old            # the same run: skipped, not an error
    assert rehash.verify_rule1(json.loads(path.read_text())) == "rule 2 with trainer.gradient_checkpointing hashed"
    assert rehash.migrate(tmp_path)[0] == 1 and json.loads(path.read_text())["config_hash"] == key.config_hash


def test_every_method_sized_by_a_label_keeps_its_hash():
    """Every method YAML, sized by a budget label on a real model, leaves the config hashing as its key did: the spec
    may only change the fields the label sets. SVD-LoRA's rule once named init_rank alone while the budget also set
    target_rank, and every SVD-LoRA run stopped with 'the method spec changed settings ... beyond the sizes'."""
    from pathlib import Path

    from runners.context import RunContext
    from runners.methods import build_spec
    from runners.models import build_model, build_tokenizer
    from tasks import get_task

    methods = sorted(p.stem for p in (Path(CONF) / "method").glob("*.yaml"))
    assert "svd-lora" in methods and "adalora" in methods
    model = None
    for method in methods:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("config", overrides=["task=sst2", f"method={method}", "model=tiny-bert", "budget=8k"])
        ctx = RunContext.open(cfg, get_task(cfg.task.name))
        if model is None:
            model = build_model(cfg.model, ctx.task, build_tokenizer(cfg.model))
        ctx.resolve(*build_spec(ctx.cfg.method, ctx.cfg.budget, model))   # raises if the hash moved
        assert config_hash(OmegaConf.to_container(ctx.cfg, resolve=True)) == ctx.key.config_hash, method
