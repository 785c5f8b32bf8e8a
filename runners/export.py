"""Export a finished run's adapter to HF PEFT's format.

    python -m runners.export results/runs/minilm/sst2/adalora/83k/seed1.json peft-adapter/
    python -m runners.export outputs/minilm/sst2/adalora/83k/seed1-<hash>/ peft-adapter/

The run's record (or its output folder) names the model and task it ran; the base model is rebuilt from them as
the run built it (same config, same seed), the run's adapter (`<output_dir>/adapter/`, adalora.save_adapter's
format) is loaded into it, and `adalora.export_peft` writes a folder that `peft.PeftModel.from_pretrained(base,
folder)` loads to the same outputs. Needs the base model where the run found it (the Hub or a local copy)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from omegaconf import OmegaConf

from .errors import USER_ERRORS, ConfigError, EXIT_USER_ERROR

RUN_CONFIG = "run_config.json"  # beside a run's adapter: the run's final config (runners/run.py writes it)


def _record_of(path: Path) -> tuple[dict, Path]:
    """(record, run output folder) from a record file or a run's output folder."""
    if path.is_file():
        record = json.loads(path.read_text())
        return record, Path(record.get("output_dir") or "")
    run = path / "adapter" / RUN_CONFIG
    if path.is_dir() and run.is_file():
        return {"config": json.loads(run.read_text()), "adapter": str(path / "adapter")}, path
    raise ConfigError(f"{path} is neither a result record nor a run's output folder with an adapter/ inside")


def base_model(config: dict):
    """The run's model before adaptation: its tokenizer, task head and (for models built from a config) its
    seeded initialisation, as runners/run.py built it."""
    from transformers import set_seed

    from tasks import get_task

    from .models import build_model, build_tokenizer

    cfg = OmegaConf.create(config)
    set_seed(int(cfg.seed))
    task = get_task(cfg.task.name)
    tokenizer = build_tokenizer(cfg.model)
    return build_model(cfg.model, task, tokenizer)


def export(source: Path, out: Path) -> Path:
    import adalora

    record, run_dir = _record_of(source)
    if record.get("status") not in (None, "ok"):
        raise ConfigError(f"{source} is a {record.get('status')} run: only finished runs have an adapter to export")
    folder = Path(record.get("adapter") or run_dir / "adapter")
    if not (folder / "adalora_config.json").is_file():
        raise ConfigError(f"{folder} holds no adapter: runs finished before adapters were saved, and full "
                          f"fine-tuning, have none (rerun with force=true to write one)")
    model = base_model(record["config"])
    handle = adalora.load_adapter(model, folder)
    return adalora.export_peft(model, handle, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runners.export", description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a result record (.json) or a run's output folder")
    parser.add_argument("out", type=Path, help="the folder to write PEFT's adapter into")
    args = parser.parse_args(argv)
    try:
        written = export(args.run, args.out)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    print(f"wrote {written} (peft.PeftModel.from_pretrained(base_model, '{written}'))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
