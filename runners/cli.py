"""The command line: `python run.py task=T method=M budget=B [model=...] [seed=S] ...` (Hydra).

A mistake a user can make ends with one line on stderr that says what to change, exit code 2, no traceback and
no record. In a sweep (-m) the failing job reports its line and the others carry on."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

CONF = Path(__file__).resolve().parent.parent / "conf"
GROUPS = ("task", "method", "model", "trainer", "logger", "hparams")
LAUNCHERS_BUILT_IN = ("basic", "submitit_local", "submitit_slurm")
# Pieces other configs compose, not experiments to pick: conf/experiment/paper/<part>/ (what hparams=scripts|paper
# loads) and the CPU reproduction's chosen rates (written by runners.lr_search, loaded by cpu/protocol).
EXPERIMENT_PARTS = ("paper/settings", "paper/tasks", "paper/methods", "paper/cells", "paper/variants", "cpu/chosen_lr")


def config_dirs(argv: list[str] | None = None) -> list[Path]:
    """The suite's conf/ plus the folders a user adds with `hydra.searchpath=[file://DIR,...]` (their own methods,
    tasks or models: conf/method/<name>.yaml there is `method=<name>` here)."""
    dirs = [CONF]
    for arg in argv or []:
        name, _, value = arg.partition("=")
        if name.lstrip("+") == "hydra.searchpath":
            for item in value.strip("[]").split(","):
                item = item.strip().strip("'\"")
                if item.startswith("file://"):
                    dirs.append(Path(item[len("file://"):]))
    return dirs


def options(group: str, argv: list[str] | None = None) -> list[str]:
    return sorted({p.stem for folder in config_dirs(argv) for p in (folder / group).glob("*.yaml")})


def experiments() -> list[str]:
    """The experiments a user picks with +experiment=NAME (paper tables, the demo, CPU protocols)."""
    root = CONF / "experiment"
    names = (p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.yaml"))
    return sorted(n for n in names if not any(n == part or n.startswith(f"{part}/") for part in EXPERIMENT_PARTS))


def _choices(name: str, argv: list[str] | None = None) -> list[str]:
    if name == "hydra/launcher":
        return sorted({*options(name, argv), *LAUNCHERS_BUILT_IN})
    if name == "experiment":
        return sorted({*experiments(), *(p.relative_to(CONF / "experiment").with_suffix("").as_posix()
                                         for p in (CONF / "experiment").rglob("*.yaml"))})
    return options(name, argv)


def check_group_choices(argv: list[str]) -> str | None:
    """Unknown config-group options, caught before Hydra's multi-line error: the message, or None."""
    for arg in argv:
        name, sep, value = arg.partition("=")
        name = name.lstrip("+~")
        if not sep or name not in (*GROUPS, "hydra/launcher", "experiment") or "(" in value:
            continue
        shown = experiments() if name == "experiment" else _choices(name, argv)
        for choice in value.split(","):
            if choice and choice not in _choices(name, argv):
                return f"unknown {name} {choice!r}: choose one of {', '.join(shown)}"
        if not value:
            return f"{name}= needs a value: choose one of {', '.join(shown)}"
    return None


def help_text() -> str:
    width = max(len(g) for g in (*GROUPS, "hydra/launcher"))
    lines = [
        "usage: python run.py task=T method=M [budget=B] [model=M] [seed=S] [key=value ...]",
        "       python run.py -m method=lora,adalora seed=1,2,3 ...   a sweep: one run per combination",
        "       python run.py +experiment=NAME [key=value ...]       a prepared experiment (paper tables sweep)",
        "",
        "Config groups (group=option):",
    ]
    notes = {
        "hparams": "where training settings come from: the configs as they are, the paper's released scripts, "
                   "or the paper's appendix",
        "hydra/launcher": "with -m: each run through submitit on this machine, or as a SLURM job array",
    }
    for group in (*GROUPS, "hydra/launcher"):
        lines.append(f"  {group:<{width}}  {' '.join(options(group))}")
        if group in notes:
            lines.append(f"  {'':<{width}}    ({notes[group]})")
    lines += [
        "",
        "Experiments (+experiment=NAME):",
        "  " + " ".join(experiments()),
        "",
        "Settings: budget (a share 0.3% or a count 0.32M / 300k of the pretrained parameters), seed, results_dir,",
        "outputs_dir, force (rerun a finished run), resume; any key of the config, e.g. trainer.learning_rate=8e-4,",
        "task.data_dir=DIR, trainer.global_batch_size=32, trainer.bf16=true, logger=wandb.",
        "",
        "Show the composed config: python run.py task=rte method=adalora --cfg job [--resolve]",
        "Plan a sweep without running it: add hydra.sweeper.dry_run=true.   Hydra's own help: --hydra-help",
    ]
    return "\n".join(lines)


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def main() -> None:
    argv = sys.argv[1:]
    if "--help" in argv or "-h" in argv:
        print(help_text())
        return
    problem = check_group_choices(argv)
    if problem:
        fail(problem)
        sys.exit(2)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # A Hub model with only pytorch_model.bin (microsoft/deberta-v3-base) would make transformers start a thread that
    # asks the Hub's conversion Space to open a pull request on that model's repository: not a run's business.
    os.environ.setdefault("DISABLE_SAFETENSORS_CONVERSION", "true")

    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import DictConfig

    @hydra.main(config_path=str(CONF), config_name="config", version_base="1.3")
    def _main(cfg: DictConfig) -> dict | None:
        from .reliability.distributed import export_submitit_environment
        from .errors import EXIT_RUN_FAILED, EXIT_USER_ERROR, USER_ERRORS, RunFailed
        from .reliability.preemption import EXIT_REQUEUE, Preempted
        from .run import run

        logging.getLogger("runners").setLevel(logging.INFO)
        export_submitit_environment()  # a submitit / SLURM job of several tasks: one DDP run over them
        try:
            run(cfg)
        except USER_ERRORS as err:
            fail(str(err))
            if HydraConfig.get().mode != RunMode.MULTIRUN:
                sys.exit(EXIT_USER_ERROR)
            return {"error": str(err)}  # the sweep names it at its end (hydra_plugins/adalora_sweeper)
        except RunFailed as err:  # its record says failed and why; the rest of a sweep carries on
            fail(f"run failed: {err}")
            if HydraConfig.get().mode != RunMode.MULTIRUN:
                sys.exit(EXIT_RUN_FAILED)
            return {"error": f"run failed: {err}"}
        except Preempted as stop:  # the whole process is being stopped: a sweep stops too, and is requeued
            print(f"preempted: {stop}", file=sys.stderr, flush=True)
            sys.exit(EXIT_REQUEUE)

    _main()
