"""The command line: `python run.py task=T method=M budget=B [model=...] [seed=S] ...` (Hydra).

A mistake a user can make ends with one line on stderr that says what to change, exit code 2, no traceback and
no record. In a sweep (-m) the failing job reports its line and the others carry on."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

CONF = Path(__file__).resolve().parent.parent / "conf"
GROUPS = ("task", "method", "model", "trainer", "logger")


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def check_group_choices(argv: list[str]) -> str | None:
    """Unknown config-group options, caught before Hydra's multi-line error: the message, or None."""
    for arg in argv:
        name, sep, value = arg.partition("=")
        name = name.lstrip("+~")
        if not sep or name not in GROUPS:
            continue
        for choice in value.split(","):
            if choice and choice not in options(name):
                return f"unknown {name} {choice!r}: choose one of {', '.join(options(name))}"
        if not value:
            return f"{name}= needs a value: choose one of {', '.join(options(name))}"
    return None


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def main() -> None:
    problem = check_group_choices(sys.argv[1:])
    if problem:
        fail(problem)
        sys.exit(2)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import DictConfig

    @hydra.main(config_path=str(CONF), config_name="config", version_base="1.3")
    def _main(cfg: DictConfig) -> None:
        from .errors import EXIT_USER_ERROR, USER_ERRORS
        from .run import run

        logging.getLogger("runners").setLevel(logging.INFO)
        try:
            run(cfg)
        except USER_ERRORS as err:
            fail(str(err))
            if HydraConfig.get().mode != RunMode.MULTIRUN:
                sys.exit(EXIT_USER_ERROR)

    _main()
