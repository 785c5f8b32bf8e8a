"""Tasks: data loading, preprocessing, metrics and post-processing, one module per task family.
Pure data and metric code: no Trainer, no Hydra."""
from .errors import DataError
from .glue import GLUE_TASKS

TASKS = {**GLUE_TASKS}


def get_task(name: str):
    try:
        return TASKS[name]
    except KeyError:
        raise DataError(f"unknown task {name!r}: choose one of {', '.join(TASKS)}") from None


__all__ = ["DataError", "TASKS", "get_task"]
