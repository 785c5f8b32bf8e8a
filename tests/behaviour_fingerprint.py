"""A fingerprint of what every method's short fixed-seed run produces: the record (less what varies from run to run:
times, paths, versions, the commit, the config hash) and the SHA-256 of every tensor in every checkpoint file.

It pins behaviour across refactors: `tests/data/behaviour_fingerprint.json` was written by the code *before* a
change, and `test_behaviour_unchanged.py` checks the code after it gives the same fingerprint, bit for bit.

    python tests/behaviour_fingerprint.py write    # regenerate the stored fingerprint (only for a deliberate change)
"""
from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
STORED = REPO / "tests" / "data" / "behaviour_fingerprint.json"

# Every method config, in one Hydra sweep (one process): tiny-bert on 48 SST-2 sentences, 8 steps, a checkpoint at
# steps 4 and 8; the allocating methods re-allocate every step from step 2 and fix their pattern at step 5.
METHODS = ("full,bitfit,lora,adalora,houlsby,pfeiffer,svd-lora,adalora-gamma0,lora-regu,prune-lora,"
           "adalora-sensitivity,adalora-magnitude,adalora-paper-reg,adalora-pre-update")
ARGS = ["task=sst2", "model=tiny-bert", "task.data_dir=data/glue/sst2", "task.max_train_samples=48",
        "task.max_eval_samples=24", "trainer.max_steps=8", "trainer.save_steps=4", "trainer.save_total_limit=null",
        "trainer.per_device_train_batch_size=8", "trainer.disable_tqdm=true", "trainer.logging_steps=4", "seed=3"]
# Schedule and sizes for the methods that have them, set per method through the sweep's grid (not every method
# has these fields).
SIZED = {"lora": "method.rank=2", "svd-lora": "method.init_rank=2", "lora-regu": "method.rank=2",
         "houlsby": "method.dim=3", "pfeiffer": "method.dim=5"}
ALLOCATING = ("adalora", "adalora-gamma0", "prune-lora", "adalora-sensitivity", "adalora-magnitude",
              "adalora-paper-reg", "adalora-pre-update")
SCHEDULE = ["method.init_rank=4", "method.target_rank=2", "method.t_init=2", "method.t_final=3", "method.delta_t=1"]

VOLATILE = {"wall_time_s", "finished_at", "git", "versions", "machine", "output_dir", "config_hash"}
VOLATILE_CONFIG = {"results_dir", "outputs_dir"}


def run_all(folder: Path) -> None:
    """The runs: the methods without size fields in one sweep, the others one process each (Hydra composes a
    sweep's base config before it picks a method, so `method.rank=2` cannot ride along `method=a,b`)."""
    groups = [[m for m in METHODS.split(",") if m not in ALLOCATING and m not in SIZED]]
    groups += [[m] for m in SIZED] + [[m] for m in ALLOCATING]
    for group in groups:
        extra = SCHEDULE if group[0] in ALLOCATING else ([SIZED[group[0]]] if group[0] in SIZED else [])
        cmd = [sys.executable, "run.py", "-m", *ARGS, f"method={','.join(group)}", *extra,
               f"results_dir={folder}/runs", f"outputs_dir={folder}/out", "hydra.sweep.dir=" + str(folder / "sweep")]
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900,
                              env={**__import__("os").environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"})
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")


def _tensor_digests(path: Path) -> dict[str, str]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        tensors = load_file(str(path))
    else:
        tensors = _tensors_in(torch.load(path, map_location="cpu", weights_only=False), "")
    return {k: hashlib.sha256(v.contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()[:16] + f"/{list(v.shape)}"
            for k, v in sorted(tensors.items()) if isinstance(v, torch.Tensor)}


def _tensors_in(obj, key: str) -> dict:
    if isinstance(obj, torch.Tensor):
        return {key: obj.reshape(-1) if obj.dim() == 0 else obj}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_tensors_in(v, f"{key}.{k}" if key else str(k)))
        return out
    if isinstance(obj, (list, tuple)):
        out = {}
        for i, v in enumerate(obj):
            out.update(_tensors_in(v, f"{key}.{i}"))
        return out
    return {}


CHECKPOINT_FILES = ("trainable.safetensors", "model.safetensors", "method_state.pt", "optimizer.pt")


def fingerprint(folder: Path) -> dict:
    runs = {}
    for path in sorted((folder / "runs").rglob("seed*.json")):
        record = json.loads(path.read_text())
        cell = str(path.relative_to(folder / "runs"))
        kept = {k: v for k, v in record.items() if k not in VOLATILE}
        kept["config"] = {k: v for k, v in record["config"].items() if k not in VOLATILE_CONFIG}
        out = next((folder / "out").glob(str(path.parent.relative_to(folder / "runs")) + f"/{path.stem}-*"))
        checkpoints = {}
        for ckpt in sorted(out.glob("checkpoint-*")):
            checkpoints[ckpt.name] = {f: _tensor_digests(ckpt / f) for f in CHECKPOINT_FILES if (ckpt / f).is_file()}
        runs[cell] = {"record": kept, "checkpoints": checkpoints}
    return runs


def machine_signature() -> dict:
    """Where bit-identity can be expected: the same torch build on the same kind of CPU."""
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = hashlib.sha256(line.encode()).hexdigest()[:12]
                break
    except OSError:
        pass
    return {"torch": torch.__version__, "machine": platform.machine(), "cpu_flags": flags}


def main() -> None:
    import tempfile

    if sys.argv[1:] != ["write"]:
        sys.exit("usage: python tests/behaviour_fingerprint.py write")
    with tempfile.TemporaryDirectory() as tmp:
        run_all(Path(tmp))
        runs = fingerprint(Path(tmp))
    STORED.parent.mkdir(parents=True, exist_ok=True)
    STORED.write_text(json.dumps({"signature": machine_signature(), "runs": runs}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {STORED}: {len(runs)} runs")


if __name__ == "__main__":
    main()
