"""The baselines from the command line: one sweep writes a record for each, and full / BitFit, whose sizes are
fixed, ignore the budget so a sweep over budgets runs them once."""
import json
import logging

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from runners.cli import CONF
from runners.methods import normalise_budget
from runners.records import REQUIRED
from runners.plan import run_key
from test_cli import run_cli

BASE = ["task=sst2", "model=tiny-bert", "task.data_dir=data/glue/sst2", "task.max_train_samples=32",
        "task.max_eval_samples=16", "trainer.max_steps=2", "trainer.save_strategy=no", "trainer.disable_tqdm=true"]
# tiny-bert: 2 layers, width 32, so an adapter of width d costs 65 d + 32; the backbone has 1,011,360 parameters
EXPECTED = {  # method: (record folder, sizes, adapter parameters)
    "houlsby": ("1k", {"dim": 3}, 4 * (65 * 3 + 32)),   # round((1000 - 128) / 260) = 3
    "pfeiffer": ("1k", {"dim": 7}, 2 * (65 * 7 + 32)),  # round((1000 - 64) / 130) = 7
    "bitfit": ("bias", {}, 640),
    "full": ("all", {}, 1_011_360),
}


def test_one_sweep_writes_a_record_per_baseline(repo, tmp_path):
    """One process (a Hydra sweep) instead of four keeps this fast; each job is an ordinary run."""
    done = run_cli(repo, tmp_path, "-m", *BASE, "method=houlsby,pfeiffer,bitfit,full", "budget=1k")
    assert done.returncode == 0, done.stderr[-2000:]
    output = done.stdout + done.stderr
    assert "method full has a fixed size (all); budget=1k does not apply to it and is set to null" in output
    for method, (folder, sizes, adapter) in EXPECTED.items():
        record = json.loads((tmp_path / f"runs/tiny-bert/sst2/{method}/{folder}/seed1.json").read_text())
        assert all(field in record for field in REQUIRED) and record["status"] == "ok" and record["steps"] == 2
        assert record["budget"]["sizes"] == sizes
        assert record["budget"]["label"] == (None if method in ("bitfit", "full") else "1k")
        assert record["config"]["budget"] == (None if method in ("bitfit", "full") else "1k")
        params = record["params"]
        assert params["adapter"] == adapter and params["trainable"] == adapter + params["head"]
        assert params["pretrained"] == 1_011_360
    assert "error" not in output.lower()


def compose_run(*overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def test_fixed_size_methods_share_one_key_across_budgets(caplog):
    caplog.set_level(logging.INFO, logger="runners")
    keys = {b: run_key(normalise_budget(compose_run("task=rte", "method=full", f"budget={b}")))
            for b in ("0.08%", "0.16%")}
    assert keys["0.08%"] == keys["0.16%"] and keys["0.08%"].budget_slug == "all"
    assert sum("does not apply" in r.message for r in caplog.records) == 2
    bitfit = run_key(normalise_budget(compose_run("task=rte", "method=bitfit", "budget=0.3M")))
    assert bitfit.budget_slug == "bias"
    lora = {b: run_key(normalise_budget(compose_run("task=rte", "method=lora", f"budget={b}"))) for b in ("0.08%", "0.16%")}
    assert lora["0.08%"].budget_slug == "0.08pct" and lora["0.08%"].config_hash != lora["0.16%"].config_hash


def test_adapter_slugs_without_a_budget():
    assert run_key(compose_run("task=rte", "method=houlsby")).budget_slug == "d8"
    assert run_key(compose_run("task=rte", "method=pfeiffer", "method.dim=32")).budget_slug == "d32"
