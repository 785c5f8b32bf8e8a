"""The HF Trainer wired to a method handle: the regulariser joins the loss in `compute_loss`, the method's step
runs in a callback at `on_optimizer_step` with the optimizer-step counter, and the method's state travels with
every checkpoint, which is written atomically (runners/reliability/checkpoints.py). Checkpoints hold what training changes: with a frozen backbone only the trainable tensors."""
from __future__ import annotations

import shutil
from pathlib import Path

import safetensors.torch
import torch
from omegaconf import DictConfig, OmegaConf
from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .reliability import checkpoints
from .batching import apply_global_batch
from .reliability.divergence import check_loss
from .reliability.distributed import world_size
from .errors import ConfigError

METHOD_STATE = "method_state.pt"
TRAINABLE_WEIGHTS = "trainable.safetensors"


class MethodTrainer(Trainer):
    """The Trainer with the method's regulariser in the training loss.

    `compute_loss` returns the model's per-batch mean loss (plus the regulariser), never normalised by
    `num_items_in_batch`, so the Trainer divides it by the gradient-accumulation steps: 2 x batch 4 gives the
    gradients of 1 x batch 8 (transformers#47688 leaves this to the subclass)."""

    loss_is_scaled_for_ga = False

    def __init__(self, *args, handle, **kwargs) -> None:
        """The trainer owns the method's life in training: it installs the method's callback, tells the method
        the run's optimizer steps once (a schedule that does not fit stops here, before anything is loaded onto
        the trainer), and saves and loads the method's state with every checkpoint."""
        super().__init__(*args, **kwargs)
        self.handle = handle
        self.add_callback(MethodCallback(handle))
        handle.set_total_steps(total_optimizer_steps(self))

    def train(self, resume_from_checkpoint=None, **kwargs):
        """Resuming restores the method's state (allocator statistics, masks) before the Trainer restores the
        weights, the optimizer and the RNG from the same checkpoint."""
        if resume_from_checkpoint:
            load_method_state(self.handle, resume_from_checkpoint)
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def create_optimizer(self, model=None):
        """The method's own optimizer where it has one (LoRA+ through PEFT's helper), else the Trainer's."""
        if self.optimizer is None:
            cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, self.model)
            custom = self.handle.optimizer(cls, kwargs)
            if custom is not None:
                self.optimizer = custom
                return self.optimizer
        return super().create_optimizer(model) if model is not None else super().create_optimizer()

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs[0]
        if model.training:
            loss = loss + self.handle.regularizer()
        return (loss, outputs) if return_outputs else loss

    def training_step(self, model, inputs, num_items_in_batch=None):
        """One micro-batch; a NaN / inf loss stops the run here (runners/reliability/divergence.py), before it reaches the
        optimizer. The check reads the loss on the host, as the Trainer's logging_nan_inf_filter already does."""
        loss = super().training_step(model, inputs, num_items_in_batch)
        check_loss(loss, self.state.global_step)
        return loss

    # Private override: the Trainer checks max_steps only after a step. A run resumed from a checkpoint at its last
    # step (killed after that save: during evaluation or the record write) would train one step past the end
    # whenever the run ends mid-epoch; it must end as the uninterrupted run did, with nothing left to train.
    def _run_epoch(self, *args, **kwargs):
        if self.state.max_steps > 0 and self.state.global_step >= self.state.max_steps:
            self.control.should_training_stop = True
            return None
        return super()._run_epoch(*args, **kwargs)

    # --- checkpoints: complete or absent (staged, closed with a manifest, renamed) ---------------------------
    # Private override: the Trainer has no public hook around writing a checkpoint folder, and staging needs the
    # whole folder (weights, optimizer, scheduler, RNG, trainer state) written somewhere else first.
    def _save_checkpoint(self, model, trial) -> None:
        """The Trainer's checkpoint (weights, optimizer, scheduler, RNG, trainer state) plus the method's state,
        written into `.staging/checkpoint-N`, closed with a manifest and renamed to `checkpoint-N` (see
        runners/reliability/checkpoints.py). Old checkpoints are rotated only once the new one is in place."""
        run_dir = Path(self._get_output_dir(trial=trial))
        final = run_dir / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        staging = checkpoints.staging_folder(final)
        if self.args.should_save:
            shutil.rmtree(staging, ignore_errors=True)  # what a save cut short left behind
        self._barrier()
        limit, self.args.save_total_limit = self.args.save_total_limit, None  # rotation waits for the rename
        self._staging_root = staging.parent
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self.args.save_total_limit = limit
            self._staging_root = None
        self._barrier()  # every rank has written its RNG state
        if self.args.should_save:
            torch.save(self.handle.state_dict(), staging / METHOD_STATE)
            checkpoints.write_manifest(staging, self.state.global_step)
            checkpoints.publish(staging, final)
            if limit:
                from transformers.trainer_utils import rotate_checkpoints

                rotate_checkpoints(output_dir=str(run_dir), save_total_limit=limit,
                                   best_model_checkpoint=self.state.best_model_checkpoint, use_mtime=True)
        self._barrier()

    _staging_root = None

    # Private override: where _save_checkpoint's parent writes; redirected into the staging folder while saving.
    def _get_output_dir(self, trial) -> str:
        if self._staging_root is not None:  # inside _save_checkpoint: run_dir / checkpoint-N lands in staging
            return str(self._staging_root)
        return super()._get_output_dir(trial)

    def _barrier(self) -> None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.barrier()

    # --- checkpoints: the trainable tensors only, when the backbone is frozen -------------------------------
    def _trainable(self, model=None) -> dict[str, torch.nn.Parameter]:
        model = model if model is not None else self.model
        return {name: p for name, p in model.named_parameters() if p.requires_grad}

    # Private override: `save_model` (public) also decides where and on which rank to write; `_save` is the one
    # place that chooses what the weights file holds.
    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """A PEFT method trains a few MB of a 184M (DeBERTaV3-base) or 406M (BART-large) model: its checkpoints hold
        those tensors (`trainable.safetensors`), the frozen backbone reloads from the pretrained weights on resume.
        Full fine-tuning trains everything and saves the whole model as the Trainer does."""
        trainable = self._trainable()
        if state_dict is not None or len(trainable) == len(dict(self.model.named_parameters())):
            return super()._save(output_dir, state_dict)
        if not self.args.should_save:
            return
        folder = Path(output_dir if output_dir is not None else self.args.output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {name: p.detach().to("cpu", copy=True).contiguous() for name, p in trainable.items()}
        safetensors.torch.save_file(tensors, str(folder / TRAINABLE_WEIGHTS), metadata={"format": "pt"})
        torch.save(self.args, folder / "training_args.bin")

    # Private override: the Trainer loads a checkpoint's weights only here, and expects the whole model's.
    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        path = Path(resume_from_checkpoint) / TRAINABLE_WEIGHTS
        if not path.is_file():
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        model = model if model is not None else self.model
        saved = safetensors.torch.load_file(str(path), device="cpu")
        expected = set(self._trainable(model))
        if set(saved) != expected:
            missing, extra = sorted(expected - set(saved)), sorted(set(saved) - expected)
            raise ConfigError(f"checkpoint {resume_from_checkpoint} does not match this run's trainable tensors "
                              f"(missing {missing[:3]}, unexpected {extra[:3]}); remove it or pass resume=false")
        model.load_state_dict(saved, strict=False)

    # Private override: load_best_model_at_end reads the best checkpoint's weights here, whole-model only.
    def _load_best_model(self) -> None:
        best = self.state.best_model_checkpoint
        if best and (Path(best) / TRAINABLE_WEIGHTS).is_file():
            self._load_from_checkpoint(best)
            return
        super()._load_best_model()


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
        self.handle.bind_optimizer(kwargs.get("optimizer"))  # AdaLoRA's slice_final cuts its state with the adapters
        if self.handle.total_steps != state.max_steps:  # MethodTrainer counted the same steps when it was built
            raise RuntimeError(f"the Trainer runs {state.max_steps} optimizer steps but the method was told "
                               f"{self.handle.total_steps}")

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


def load_method_state(handle, checkpoint: str | Path) -> None:
    path = Path(checkpoint) / METHOD_STATE
    if path.is_file():
        handle.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))


def training_arguments(trainer_cfg: DictConfig, output_dir: Path, seed: int, report_to: str = "none",
                       args_class: type[TrainingArguments] = TrainingArguments, **extra) -> TrainingArguments:
    """TrainingArguments (or `args_class`, e.g. Seq2SeqTrainingArguments) from `conf/trainer/*.yaml`, whose
    keys are TrainingArguments fields (and `global_batch_size`, split over the processes of this run); `extra`
    are settings the task kind needs."""
    kwargs = apply_global_batch(OmegaConf.to_container(trainer_cfg, resolve=True), world_size())
    kwargs.update(output_dir=str(output_dir), seed=seed, report_to=report_to, **extra)
    if kwargs.get("use_cpu") is None:  # CPU DDP (gloo) and bf16 on a CPU need use_cpu; an accelerator must not get it
        kwargs["use_cpu"] = not accelerator_available()
    try:
        args = args_class(**kwargs)
    except TypeError as err:
        bad = str(err).split("'")[1] if "'" in str(err) else str(err)
        raise ConfigError(f"trainer.{bad} is not a TrainingArguments field; see conf/trainer/default.yaml") from None
    except ValueError as err:
        raise ConfigError(f"trainer settings rejected by transformers: {str(err).splitlines()[0]}") from None
    if args.world_size != world_size():
        raise ConfigError(f"{world_size()} processes were launched but the Trainer runs {args.world_size} (with "
                          f"trainer.use_cpu={args.use_cpu}); each would train alone: check trainer.use_cpu")
    return args


def accelerator_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available() or bool(mps and mps.is_available())


def total_optimizer_steps(trainer: Trainer) -> int:
    """The optimizer steps the Trainer will take, by its own arithmetic (max_steps, or epochs x updates/epoch)."""
    return trainer.set_initial_training_values(trainer.args, trainer.get_train_dataloader())[-1]
