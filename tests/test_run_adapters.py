"""One adapter format: every finished run of a parameter-efficient method writes its adapter with
adalora.save_adapter, `adalora.load_adapter(model, run_dir)` opens it, and `python -m runners.export` turns it into
a PEFT adapter that peft loads to the same logits."""
import json
import subprocess
import sys

import pytest
import torch

import adalora
from runners.export import base_model
from runners.keys import config_hash
from test_cli import run_cli

ARGS = ["task=sst2", "model=tiny-bert", "task.data_dir=data/glue/sst2", "task.max_train_samples=32",
        "task.max_eval_samples=16", "trainer.max_steps=6", "trainer.save_strategy=no", "trainer.disable_tqdm=true",
        "budget=2k"]
SCHEDULE = ["method.t_init=1", "method.t_final=2", "method.delta_t=1"]


@pytest.mark.parametrize("method", ["adalora", "lora"])
def test_a_finished_run_loads_and_exports_to_peft(repo, tmp_path, method):
    peft = pytest.importorskip("peft")
    done = run_cli(repo, tmp_path, *ARGS, f"method={method}", *(SCHEDULE if method == "adalora" else []))
    assert done.returncode == 0, done.stderr[-2000:]
    record_path = next((tmp_path / "runs").rglob("seed1.json"))
    record = json.loads(record_path.read_text())
    run_dir = record["output_dir"]
    assert record["adapter"] == f"{run_dir}/adapter"
    assert config_hash(record["config"]) == record["config_hash"]   # the stored config is the hashed one
    cost = record["cost"]                                             # Table 15's columns, from the record
    assert cost["steps_timed"] == 6 and cost["step_time_median_s"] > 0 and cost["peak_memory_mb"] > 0
    assert cost["train_time_s"] > 0 and cost["load_s"] > 0 and cost["evaluate_s"] >= 0
    assert record["budget"]["sizes"] != {k: 8 for k in record["budget"]["sizes"]}  # the label changed the sizes

    ours = base_model(record["config"])
    handle = adalora.load_adapter(ours, run_dir)  # a run's output folder opens like an adapter folder
    assert handle.rank_pattern() == record["rank_pattern"]

    out = tmp_path / "peft-adapter"
    exported = subprocess.run([sys.executable, "-m", "runners.export", str(record_path), str(out)], cwd=repo,
                              capture_output=True, text=True, timeout=300)
    assert exported.returncode == 0, exported.stderr[-2000:]
    theirs = peft.PeftModel.from_pretrained(base_model(record["config"]), str(out)).eval()
    ids = torch.randint(5, 1000, (3, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = ours.eval()(input_ids=ids).logits, theirs(input_ids=ids).logits
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(a, base_model(record["config"]).eval()(input_ids=ids).logits, atol=1e-4)


def test_export_of_something_that_is_not_a_run_is_one_line(repo, tmp_path):
    done = subprocess.run([sys.executable, "-m", "runners.export", str(tmp_path), str(tmp_path / "out")], cwd=repo,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "neither a result record nor a run's output folder" in done.stderr
