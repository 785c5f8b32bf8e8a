"""One run: config -> data -> model + method -> Trainer -> metrics -> adapter and result record."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from transformers import set_seed

import adalora
from tasks import get_task

from . import tracking
from .context import RunContext
from .cost import CostMeter
from .data import prepare, subsample
from .errors import RunFailed
from .evaluation import baseline, evaluate
from .export import RUN_CONFIG
from .methods import build_spec
from .models import build_model, build_tokenizer
from .plan import finished_record
from .records import check_writable, prune_empty_folders, write_json_atomic
from .reliability.checkpoints import last_good_checkpoint
from .reliability.claims import Claim, claim_path, try_claim
from .reliability.distributed import is_main_process
from .reliability.divergence import Diverged
from .reliability.preemption import PreemptionGuard
from .summary import summary
from .training import arguments_class, task_arguments, trainer_class, training_arguments

log = logging.getLogger("runners")

ADAPTER = "adapter"  # <output_dir>/adapter/: the finished run's adapter, as adalora.save_adapter writes it


def run(cfg: DictConfig) -> dict | None:
    """The run's record; None if another process holds the cell's claim (runs it now)."""
    with tracking.session() as session:  # the tracker's run is closed however this run ends
        record = _run(cfg, session)
        session.ok = True
        return record


def _run(cfg: DictConfig, session: tracking.Session) -> dict | None:
    ctx = RunContext.open(cfg, get_task(cfg.task.name))
    done = _finished(ctx)
    if done is not None:
        return done
    check_writable(ctx.record_path.parent)
    if not is_main_process():  # rank 0 claims for a DDP run
        return _train(ctx, session)
    claim = try_claim(ctx.record_path)
    if not isinstance(claim, Claim):
        log.info("%s is being run by %s (pid %s, claim %s); skipping it here", ctx.key.cell, claim.get("host"),
                 claim.get("pid"), claim_path(ctx.record_path))
        return None
    try:
        with claim:
            done = _finished(ctx)  # finished by the claim's previous holder meanwhile
            if done is not None:
                return done
            return _train(ctx, session)
    finally:
        prune_empty_folders(ctx.record_path.parent, Path(ctx.cfg.results_dir))  # a run stopped by an error leaves nothing


def _finished(ctx: RunContext) -> dict | None:
    """The run's finished record, if there is one (then it is skipped)."""
    done = finished_record(ctx.cfg, ctx.key)
    if done is not None:
        log.info("%s is finished (%s); skipping it (force=true runs it again)", ctx.key.cell, ctx.record_path)
    return done


def _train(ctx: RunContext, session: tracking.Session) -> dict:
    cfg, task = ctx.cfg, ctx.task
    set_seed(int(cfg.seed))
    raw = subsample(task.load(cfg.task), cfg.task)
    tokenizer = build_tokenizer(cfg.model)
    model = build_model(cfg.model, task, tokenizer)
    ctx.resolve(*build_spec(cfg.method, cfg.budget, model))  # the config is final from here on
    ctx.handle = adalora.attach(model, ctx.spec)
    train_set, eval_sets, collator = prepare(task, raw, tokenizer, cfg.task, model=model)
    ctx.data_sizes = {"train_examples": len(train_set),
                      "eval_examples": {split: len(ds) for split, ds in eval_sets.items()}}

    args = training_arguments(cfg.trainer, ctx.output_dir, int(cfg.seed), args_class=arguments_class(task),
                              **task_arguments(task, cfg.task))
    trainer = trainer_class(task)(model=model, args=args, train_dataset=train_set, data_collator=collator,
                                  processing_class=tokenizer, handle=ctx.handle)
    for callback in session.start(cfg, ctx.key, ctx.output_dir).callbacks():
        trainer.add_callback(callback)
    checkpoint = last_good_checkpoint(ctx.output_dir, tidy=is_main_process()) if cfg.resume else None
    if checkpoint:
        log.info("resuming %s from %s", ctx.key.cell, checkpoint)
    guard, meter = PreemptionGuard(), CostMeter()
    trainer.add_callback(guard)
    trainer.add_callback(meter)
    ctx.timings["load_s"] = round(time.time() - ctx.started, 2)
    try:
        with guard:
            trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    except Diverged as stop:  # a failed record, and the sweep carries on
        ctx.cost = meter.summary()
        record = ctx.record(trainer, status="failed")
        record["failure"] = {"kind": "diverged", "reason": str(stop), "step": stop.step, "loss": str(stop.value)}
        if trainer.is_world_process_zero():
            write_json_atomic(ctx.record_path, record)
        raise RunFailed(f"{ctx.key.cell} seed {ctx.key.seed}: {stop}; recorded as failed in {ctx.record_path}") from None
    guard.requeue()  # stopped on SIGTERM / SIGUSR1 / submitit's signal: its checkpoint is saved; exit for requeue
    ctx.cost = meter.summary()
    evaluating = time.time()
    metrics = evaluate(trainer, task, eval_sets, cfg.task)
    reference = baseline(task, raw, cfg.task)
    ctx.timings["evaluate_s"] = round(time.time() - evaluating, 2)

    record = ctx.record(trainer, status="ok", metrics=metrics, reference=reference)
    if trainer.is_world_process_zero():
        adapter = _save_adapter(ctx, model)
        record["adapter"] = str(adapter) if adapter else None
        write_json_atomic(ctx.record_path, record)
        print(summary(record, ctx.record_path, {k: v for k, v in (reference or {}).items() if k != "kind"},
                      ctx.handle.layout()))
    session.tracker.log_result(record)
    return record


def _save_adapter(ctx: RunContext, model) -> Path | None:
    """The finished run's adapter in the library's one format (adalora.save_adapter), so `adalora.load_adapter`,
    `adalora.export_peft` and `python -m runners.export` work on any run of a parameter-efficient method. Full
    fine-tuning has no adapter (it changed every weight; its checkpoints hold the whole model)."""
    if ctx.handle.method == "full":
        return None
    folder = adalora.save_adapter(model, ctx.handle, ctx.output_dir / ADAPTER)
    write_json_atomic(folder / RUN_CONFIG, OmegaConf.to_container(ctx.cfg, resolve=True))
    return folder
