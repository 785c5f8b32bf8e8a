"""Preemption in-process, with real signals: SIGTERM / SIGUSR1 / submitit's SIGUSR2 save a checkpoint at the next
step boundary and stop training; the run then hands over to submitit's handler or raises Preempted (exit 144)."""
import os
import signal

import pytest
import torch
from transformers import TrainerCallback

import adalora
from runners.reliability.checkpoints import last_good_checkpoint
from runners.reliability.preemption import Preempted, PreemptionGuard
from runners.training import load_method_state, total_optimizer_steps
from test_training_wiring import adapted_bert, examples, trainer_for

SPEC = adalora.AdaLoRA(init_rank=4, target_rank=2, alpha=8, t_init=2, t_final=2, delta_t=1)
COMMON = dict(max_steps=8, save_strategy="steps", save_steps=100, save_total_limit=None)


class SignalAt(TrainerCallback):
    """Sends a real signal to this process in the middle of a step (after its forward/backward begins)."""

    def __init__(self, step: int, signum: int) -> None:
        self.step, self.signum = step, signum

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            os.kill(os.getpid(), self.signum)


def run(tiny_bert_factory, folder, guard=None, signal_at=None, resume=None):
    model, handle = adapted_bert(tiny_bert_factory, SPEC)
    trainer = trainer_for(model, handle, examples(32), folder, **COMMON)
    if signal_at:
        trainer.add_callback(SignalAt(*signal_at))
    guard = guard or PreemptionGuard()
    trainer.add_callback(guard)
    with guard:
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    return model, handle, trainer, guard


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2])
def test_a_signal_saves_at_the_next_step_boundary_and_stops(tiny_bert_factory, tmp_path, signum):
    model, handle, _, _ = run(tiny_bert_factory, tmp_path / "straight")
    straight = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    before = signal.getsignal(signum)

    _, _, trainer, guard = run(tiny_bert_factory, tmp_path / "stopped", signal_at=(3, signum))
    assert trainer.state.global_step == 4  # step 3 finished, then it stopped (no periodic save before step 100)
    assert signal.getsignal(signum) == before  # our handler is gone once training ends
    assert last_good_checkpoint(tmp_path / "stopped") == tmp_path / "stopped" / "checkpoint-4"
    with pytest.raises(Preempted, match=f"{signal.Signals(signum).name} received: saved a checkpoint at step 4"):
        guard.requeue()

    model, handle, trainer, guard = run(tiny_bert_factory, tmp_path / "stopped",
                                        resume=tmp_path / "stopped" / "checkpoint-4")
    guard.requeue()  # finished normally: nothing to do
    assert trainer.state.global_step == 8
    for n, p in model.named_parameters():
        if p.requires_grad:
            assert torch.equal(p.detach(), straight[n]), n


def test_submitits_handler_requeues_after_our_checkpoint(tiny_bert_factory, tmp_path):
    """Under submitit its handler owns SIGUSR2: ours runs first (checkpoint), then hands the signal on to it."""
    calls = []

    class Requeued(SystemExit):
        pass

    def submitit_handler(signum, frame):  # what submitit's checkpoint_and_try_requeue does: requeue, then exit
        calls.append((signum, sorted(p.name for p in (tmp_path / "run").glob("checkpoint-*"))))
        raise Requeued(-1)

    previous = signal.signal(signal.SIGUSR2, submitit_handler)
    try:
        _, _, _, guard = run(tiny_bert_factory, tmp_path / "run", signal_at=(2, signal.SIGUSR2))
        assert signal.getsignal(signal.SIGUSR2) is submitit_handler and not calls  # not called mid-step
        with pytest.raises(Requeued):
            guard.requeue()
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert calls == [(signal.SIGUSR2, ["checkpoint-3"])]
