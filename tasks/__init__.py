"""Tasks: data loading, preprocessing, metrics and post-processing, one module per task family.
Pure data and metric code: no Trainer, no Hydra.

Every task has `name`, `kind` (classification, regression, extractive_qa, seq2seq), `eval_splits`,
`main_metric`, `paper_metrics` (what the paper's tables report), `load(task_cfg)` (Hub or local files) and
`baseline(raw, task_cfg)`; the preprocessing and scoring functions differ by kind (glue.py, squad.py,
summarization.py)."""
from .errors import DataError
from .glue import GLUE_TASKS
from .squad import SQUAD_TASKS
from .summarization import SUMMARIZATION_TASKS

TASKS = {**GLUE_TASKS, **SQUAD_TASKS, **SUMMARIZATION_TASKS}


def get_task(name: str):
    try:
        return TASKS[name]
    except KeyError:
        raise DataError(f"unknown task {name!r}: choose one of {', '.join(TASKS)}") from None


__all__ = ["DataError", "TASKS", "get_task"]
