"""The HF Trainer wired to a method handle: the regulariser joins the loss in `compute_loss`, the method's step
runs in a callback at `on_optimizer_step` with the optimizer-step counter, and the method's state travels with
every checkpoint."""
from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .errors import ConfigError

METHOD_STATE = "method_state.pt"


class MethodTrainer(Trainer):
    """The Trainer with the method's regulariser in the training loss.

    `compute_loss` returns the model's per-batch mean loss (plus the regulariser), never normalised by
    `num_items_in_batch`, so the Trainer divides it by the gradient-accumulation steps: 2 x batch 4 gives the
    gradients of 1 x batch 8 (transformers#47688 leaves this to the subclass)."""

    loss_is_scaled_for_ga = False

    def __init__(self, *args, handle, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.handle = handle

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs[0]
        if model.training:
            loss = loss + self.handle.regularizer()
        return (loss, outputs) if return_outputs else loss


class Seq2SeqMethodTrainer(MethodTrainer, Seq2SeqTrainer):
    """MethodTrainer's loss (task loss + regulariser in `compute_loss`) with Seq2SeqTrainer's generation at
    prediction time (`predict_with_generate`, `predict(..., num_beams=..., max_length=...)`)."""


# The Trainer and its arguments per task kind: summarisation generates at evaluation, the rest do not.
TRAINERS = {"seq2seq": (Seq2SeqMethodTrainer, Seq2SeqTrainingArguments)}


def trainer_class(task) -> type[Trainer]:
    return TRAINERS.get(task.kind, (MethodTrainer, TrainingArguments))[0]


def arguments_class(task) -> type[TrainingArguments]:
    return TRAINERS.get(task.kind, (MethodTrainer, TrainingArguments))[1]


def task_arguments(task, task_cfg: DictConfig | None = None) -> dict:
    """TrainingArguments a task kind needs whatever the trainer config says: summarisation generates at
    evaluation, with the task's beams and max length (so the Trainer's own evaluate() generates as ours does)."""
    if task.kind != "seq2seq":
        return {}
    gen = (task_cfg or {}).get("generation") or {}
    return {"predict_with_generate": True, "generation_num_beams": gen.get("num_beams"),
            "generation_max_length": gen.get("max_length")}


class MethodCallback(TrainerCallback):
    """Owns the method's per-step work. Runs once per optimizer step (never per micro-batch), after the
    gradients are all-reduced, unscaled and clipped, on the unwrapped model, so every DDP rank takes the same
    masks; steps the grad scaler skipped are not scored."""

    def __init__(self, handle) -> None:
        self.handle = handle

    def on_train_begin(self, args, state, control, **kwargs):
        if self.handle.total_steps != state.max_steps:
            self.handle.set_total_steps(state.max_steps)

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        self.handle.before_optimizer_step(state.global_step)

    def on_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        # accelerate's AcceleratedOptimizer says whether the grad scaler skipped the update (inf/NaN gradients
        # under fp16); its gradients are then never scored. Otherwise the scaler (or the clipping before it) has
        # unscaled the gradients in place by now.
        if getattr(optimizer, "step_was_skipped", False):
            self.handle.skipped_step(state.global_step)
        else:
            self.handle.step(state.global_step)

    def on_save(self, args, state, control, **kwargs):
        if args.should_save:
            folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
            torch.save(self.handle.state_dict(), folder / METHOD_STATE)


def load_method_state(handle, checkpoint: str | Path) -> None:
    path = Path(checkpoint) / METHOD_STATE
    if path.is_file():
        handle.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))


def training_arguments(trainer_cfg: DictConfig, output_dir: Path, seed: int, report_to: str = "none",
                       args_class: type[TrainingArguments] = TrainingArguments, **extra) -> TrainingArguments:
    """TrainingArguments (or `args_class`, e.g. Seq2SeqTrainingArguments) from `conf/trainer/*.yaml`, whose
    keys are TrainingArguments fields; `extra` are settings the task kind needs."""
    kwargs = OmegaConf.to_container(trainer_cfg, resolve=True)
    kwargs.update(output_dir=str(output_dir), seed=seed, report_to=report_to, **extra)
    try:
        return args_class(**kwargs)
    except TypeError as err:
        bad = str(err).split("'")[1] if "'" in str(err) else str(err)
        raise ConfigError(f"trainer.{bad} is not a TrainingArguments field; see conf/trainer/default.yaml") from None
    except ValueError as err:
        raise ConfigError(f"trainer settings rejected by transformers: {str(err).splitlines()[0]}") from None


def total_optimizer_steps(trainer: Trainer) -> int:
    """The optimizer steps the Trainer will take, by its own arithmetic (max_steps, or epochs x updates/epoch)."""
    return trainer.set_initial_training_values(trainer.args, trainer.get_train_dataloader())[-1]
