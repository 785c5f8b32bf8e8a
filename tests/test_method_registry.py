"""A method is one registered record: a toy method registered in one place (its own module, outside the library)
plus one YAML file works from the command line through budget resolution to a record and the tables' index."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

import adalora
from adalora.sizes import Rank, TargetRank
from conftest import tiny_bert

TOY = textwrap.dedent('''
    """A toy method: LoRA on the query matrices only, registered from outside the library."""
    from dataclasses import dataclass, field

    import adalora
    from adalora.sizes import Rank


    @dataclass
    class Toy:
        rank: int = 1
        targets: list = field(default_factory=lambda: ["query"])


    def attach_toy(model, spec):
        return adalora.attach(model, adalora.LoRA(rank=spec.rank, targets=list(spec.targets)))


    adalora.register(adalora.Method(name="toy", spec=Toy, attach=attach_toy, size=Rank()))
''')


def test_a_toy_method_runs_from_the_cli_to_a_record_and_the_tables(repo, tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "toy_method.py").write_text(TOY)
    (tmp_path / "conf" / "method").mkdir(parents=True)
    (tmp_path / "conf" / "method" / "toy.yaml").write_text("name: toy\nmodule: toy_method\nrank: 1\n"
                                                           "targets: [query]\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'pkg'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = [sys.executable, "run.py", "task=sst2", "method=toy", "budget=1k", "model=tiny-bert",
           "task.data_dir=data/glue/sst2", "task.max_train_samples=32", "task.max_eval_samples=16",
           "trainer.max_steps=2", "trainer.save_strategy=no", "trainer.disable_tqdm=true",
           f"hydra.searchpath=[file://{tmp_path / 'conf'}]",
           f"results_dir={tmp_path}/runs", f"outputs_dir={tmp_path}/out"]
    done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((tmp_path / "runs/tiny-bert/sst2/toy/1k/seed1.json").read_text())
    # tiny-bert: 2 layers x one query matrix of 32 x 32: a rank costs 2 x 64 = 128 parameters; 1k -> rank 8
    assert record["budget"]["sizes"] == {"rank": 8} and record["budget"]["params"] == 8 * 128
    assert record["params"]["adapter"] == 8 * 128 and set(record["rank_pattern"]) == set()
    tables = subprocess.run([sys.executable, "-m", "runners.tables", "--runs", str(tmp_path / "runs"),
                             "--out", str(tmp_path / "tables"), "--no-figures"], cwd=repo, capture_output=True,
                            text=True, timeout=300)
    assert tables.returncode == 0, tables.stderr[-2000:]
    assert "`tiny-bert/sst2/toy/1k`: seed 1" in (tmp_path / "tables" / "README.md").read_text()


def test_every_built_in_method_is_registered_with_its_size_rule():
    methods = adalora.methods()
    assert set(methods) == {"full", "bitfit", "lora", "adalora", "prune-lora", "houlsby", "pfeiffer", "peft-lora", "sora", "increlora"}
    assert isinstance(methods["prune-lora"].size_for({}), TargetRank)
    assert isinstance(methods["adalora"].size_for({"allocate": False}), Rank)   # SVD-LoRA is sized like LoRA


def test_the_library_resolves_every_methods_budget_on_its_own():
    """Prune-LoRA and SVD-LoRA used to need the runner's help; now adalora.resolve_budget sizes them."""
    model = tiny_bert()
    prune = adalora.resolve_budget("2k", model, "prune-lora")
    adaptive = adalora.resolve_budget("2k", model, "adalora")
    assert prune.sizes == adaptive.sizes == {"target_rank": 2, "init_rank": 4}
    assert prune.allocated_params < adaptive.allocated_params   # no λ
    svd = adalora.resolve_budget("2k", model, "adalora", allocate=False)
    assert svd.sizes == {"init_rank": 2, "target_rank": 2}
    spec, resolution = adalora.build_spec("adalora", "2k", model, allocate=False)
    assert (spec.init_rank, spec.target_rank, spec.allocate) == (2, 2, False) and resolution.params == svd.params


def test_an_unknown_method_is_one_line():
    with pytest.raises(adalora.AdaLoRAError, match="unknown method 'nope': choose one of adalora, bitfit"):
        adalora.method("nope")
