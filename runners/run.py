"""One run: config -> data -> model + method -> Trainer -> metrics -> result record."""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from transformers import set_seed

import adalora
from tasks import get_task

from . import tracking
from .reliability.checkpoints import last_good_checkpoint
from .reliability.claims import Claim, claim_path, try_claim
from .data import prepare, subsample
from .reliability.divergence import Diverged
from .errors import RunFailed
from .reliability.distributed import is_main_process
from .environment import git_info, machine, versions
from .evaluation import baseline, evaluate
from .methods import budget_record, build_spec, normalise_budget, spec_name
from .models import build_model, build_tokenizer
from .plan import finished_record, run_key
from .reliability.preemption import PreemptionGuard
from .records import SCHEMA_VERSION, check_writable, prune_empty_folders, write_json_atomic
from .summary import summary
from .training import (MethodCallback, arguments_class, load_method_state, task_arguments, total_optimizer_steps,
                       trainer_class, training_arguments)

log = logging.getLogger("runners")


def run(cfg: DictConfig) -> dict | None:
    """The run's record; None if another process holds the cell's claim (runs it now)."""
    with tracking.session() as session:  # the tracker's run is closed however this run ends
        record = _run(cfg, session)
        session.ok = True
        return record


def _run(cfg: DictConfig, session: tracking.Session) -> dict | None:
    started = time.time()
    task = get_task(cfg.task.name)
    cfg = normalise_budget(cfg)  # full / bitfit: a budget does not apply; before the key and hash
    key = run_key(cfg)
    record_path = key.record_path(cfg.results_dir)
    done = _finished(cfg, key, record_path)
    if done is not None:
        return done
    check_writable(record_path.parent)
    if not is_main_process():  # rank 0 claims for a DDP run
        return _train(cfg, session, task, key, record_path, started)
    claim = try_claim(record_path)
    if not isinstance(claim, Claim):
        log.info("%s is being run by %s (pid %s, claim %s); skipping it here", key.cell, claim.get("host"),
                 claim.get("pid"), claim_path(record_path))
        return None
    try:
        with claim:
            done = _finished(cfg, key, record_path)  # finished by the claim's previous holder meanwhile
            if done is not None:
                return done
            return _train(cfg, session, task, key, record_path, started)
    finally:
        prune_empty_folders(record_path.parent, Path(cfg.results_dir))  # a run stopped by an error leaves nothing


def _finished(cfg: DictConfig, key, record_path) -> dict | None:
    """The run's finished record, if there is one (then it is skipped)."""
    done = finished_record(cfg, key)
    if done is not None:
        log.info("%s is finished (%s); skipping it (force=true runs it again)", key.cell, record_path)
    return done


def _train(cfg: DictConfig, session: tracking.Session, task, key, record_path, started: float) -> dict:
    output_dir = key.output_dir(cfg.outputs_dir)

    set_seed(int(cfg.seed))
    raw = subsample(task.load(cfg.task), cfg.task)
    tokenizer = build_tokenizer(cfg.model)
    model = build_model(cfg.model, task, tokenizer)
    spec, resolution = build_spec(cfg.method, cfg.budget, model)
    for field in dataclasses.fields(spec):  # a budget sets sizes: the recorded config says what ran
        if field.name in cfg.method and cfg.method[field.name] != getattr(spec, field.name):
            OmegaConf.update(cfg, f"method.{field.name}", getattr(spec, field.name))
    handle = adalora.attach(model, spec)
    train_set, eval_sets, collator = prepare(task, raw, tokenizer, cfg.task, model=model)

    args = training_arguments(cfg.trainer, output_dir, int(cfg.seed), args_class=arguments_class(task),
                              **task_arguments(task, cfg.task))
    trainer = trainer_class(task)(model=model, args=args, train_dataset=train_set, data_collator=collator,
                                  processing_class=tokenizer, handle=handle, callbacks=[MethodCallback(handle)])
    handle.set_total_steps(total_optimizer_steps(trainer))  # a schedule that does not fit stops here
    for callback in session.start(cfg, key, output_dir).callbacks():
        trainer.add_callback(callback)
    checkpoint = last_good_checkpoint(output_dir, tidy=is_main_process()) if cfg.resume else None
    if checkpoint:
        checkpoint = str(checkpoint)
        log.info("resuming %s from %s", key.cell, checkpoint)
        load_method_state(handle, checkpoint)
    guard = PreemptionGuard()
    trainer.add_callback(guard)
    try:
        with guard:
            trainer.train(resume_from_checkpoint=checkpoint)
    except Diverged as stop:  # a failed record, and the sweep carries on
        record = _record(cfg, task, key, spec, resolution, handle, trainer, started, output_dir, status="failed",
                         train_set=train_set, eval_sets=eval_sets)
        record["failure"] = {"kind": "diverged", "reason": str(stop), "step": stop.step, "loss": str(stop.value)}
        if trainer.is_world_process_zero():
            write_json_atomic(record_path, record)
        raise RunFailed(f"{key.cell} seed {key.seed}: {stop}; recorded as failed in {record_path}") from None
    guard.requeue()  # stopped on SIGTERM / SIGUSR1 / submitit's signal: its checkpoint is saved; exit for requeue
    metrics = evaluate(trainer, task, eval_sets, cfg.task)
    reference = baseline(task, raw, cfg.task)

    record = _record(cfg, task, key, spec, resolution, handle, trainer, started, output_dir, status="ok",
                     metrics=metrics, reference=reference, train_set=train_set, eval_sets=eval_sets)
    if trainer.is_world_process_zero():
        write_json_atomic(record_path, record)
        print(summary(record, record_path, {k: v for k, v in (reference or {}).items() if k != "kind"},
                      handle.layout()))
    session.tracker.log_result(record)
    return record


def _record(cfg, task, key, spec, resolution, handle, trainer, started, output_dir, *, status, metrics=None,
            reference=None, train_set=None, eval_sets=None) -> dict:
    """The result record (README, "Reading a result record"); a failed run has no metrics."""
    args = trainer.args
    return {
        "schema": SCHEMA_VERSION,
        "task": task.name, "model": cfg.model.name, "method": cfg.method.name, "seed": int(cfg.seed),
        "status": status,
        "budget": budget_record(spec, spec_name(cfg.method), resolution),
        "params": handle.parameter_report(),
        "metrics": metrics or {},
        "main_metric": task.main_metric,
        "paper_metrics": list(task.paper_metrics),
        "baseline": reference,
        "rank_pattern": handle.rank_pattern(),
        "rank_layout": {name: list(where) for name, where in handle.layout().items()},
        "steps": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "batch": {"per_device": args.per_device_train_batch_size, "accumulation": args.gradient_accumulation_steps,
                  "processes": args.world_size,
                  "global": args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size},
        "train_examples": len(train_set) if train_set is not None else None,
        "eval_examples": {split: len(ds) for split, ds in eval_sets.items()} if eval_sets is not None else None,
        "wall_time_s": round(time.time() - started, 2),
        "run_key": key.cell + f"/seed{key.seed}",
        "config_hash": key.config_hash,
        "config": OmegaConf.to_container(cfg, resolve=True),
        "versions": versions(),
        "git": git_info(),
        "machine": machine(args.world_size),
        "output_dir": str(output_dir),
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
