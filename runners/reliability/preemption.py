"""Preemption: a run told to stop saves a checkpoint at the next optimizer-step boundary and exits for requeue.

What a cluster sends, and what we do with it:

- SLURM preempts a job (or cancels / requeues it) with SIGTERM, then SIGKILL after `KillWait` (30 s by default);
  with `#SBATCH --signal=SIG@N` it also warns N seconds before the time limit. Many sites and tools (PyTorch
  Lightning, `--signal=USR1@N`) use SIGUSR1 for that warning.
- submitit installs its own handlers in the job process: its preemption signal (SIGUSR2 by default,
  `SUBMITIT_PREEMPT_SIGNAL`; `#SBATCH --signal=USR2@<signal_delay_s>` in our slurm launcher) calls the launcher's
  `checkpoint()` (Hydra's: resubmit the same job), requeues the job (`scontrol requeue` on SLURM, exit code 144 on
  the local executor) and exits; SIGTERM it only logs ("Bypassing signal SIGTERM"), since SLURM requeues a preempted
  job with `--requeue` by itself. Its handler exits at once, from inside whatever the job was doing: the steps since
  the last periodic checkpoint would be lost.

While `trainer.train` runs, `PreemptionGuard` takes SIGTERM, SIGUSR1 and submitit's preemption signal. The handler
only notes the signal; at the end of the current optimizer step the guard asks the Trainer to save a checkpoint
(atomically, with the allocator's state) and stop. Then `requeue()`:

1. hands the signal to the handler that was installed before ours, if it is a Python callable (submitit's): under
   submitit it requeues the job its own way and exits (`sys.exit(-1)` after `scontrol requeue`; 144 on the local
   executor), or gives up after `max_num_timeout` time-outs, exactly as without us, but after our checkpoint;
2. otherwise raises `Preempted`, which the command line turns into exit code 144 (`EXIT_REQUEUE`, submitit's
   "requeue me" code, LOCAL_REQUEUE_RETURN_CODE): submitit's local executor requeues on it, and a plain sbatch
   script can test for it (`[ $? -eq 144 ] && scontrol requeue $SLURM_JOB_ID`). SLURM requeues preempted jobs
   with `--requeue` whatever the exit code.

The requeued run composes the same config, finds the same output folder and resumes from that checkpoint. Outside
`trainer.train` (loading data, evaluating) the handlers are the process's usual ones. Under DDP the ranks agree on
stopping (a max all-reduce of the flag at every step end), so they all save and stop at the same step.
"""
from __future__ import annotations

import logging
import os
import signal

import torch
from transformers import TrainerCallback

log = logging.getLogger("runners")

EXIT_REQUEUE = 144  # submitit.local.local.LOCAL_REQUEUE_RETURN_CODE


class Preempted(Exception):
    """Training stopped at a step boundary on a signal; its checkpoint is saved. The run should be requeued."""

    def __init__(self, signum: int, step: int) -> None:
        self.signum, self.step = signum, step
        super().__init__(f"{signal.Signals(signum).name} received: saved a checkpoint at step {step} and stopped; "
                         f"rerun the same command (or let the scheduler requeue it) to resume from there")


def preemption_signals() -> list[signal.Signals]:
    """SIGTERM, SIGUSR1 and submitit's preemption signal (SUBMITIT_PREEMPT_SIGNAL, default USR2)."""
    found = [signal.SIGTERM, signal.SIGUSR1]
    submitit_sig = getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"), None)
    if submitit_sig is not None and submitit_sig not in found:
        found.append(submitit_sig)
    return found


class PreemptionGuard(TrainerCallback):
    """A context manager around `trainer.train` and a Trainer callback (add it to the trainer)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.step: int | None = None
        self._previous: dict[int, object] = {}
        self._chained: dict[int, object] = {}

    # --- the signal handlers, installed only while training ----------------------------------------------
    def __enter__(self) -> PreemptionGuard:
        self.received, self.step = None, None
        try:
            for sig in preemption_signals():
                self._previous[sig] = signal.signal(sig, self._note)
        except ValueError:  # not the main thread: signals cannot be handled here, the scheduler's defaults stand
            self._restore()
        return self

    def __exit__(self, *exc) -> None:
        self._restore()

    def _restore(self) -> None:
        self._chained = dict(self._previous)  # `requeue` hands the signal on to these, after the guard is closed
        for sig, previous in self._previous.items():
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
        self._previous = {}

    def _note(self, signum, frame) -> None:
        if self.received is None:  # the first signal decides; the rest (SLURM repeats SIGTERM) change nothing
            self.received = signum

    # --- the callback: save and stop at the step boundary ------------------------------------------------
    def on_step_end(self, args, state, control, **kwargs):
        if self._stop_everywhere(args):
            if self.received is None:  # another rank was signalled
                self.received = int(signal.SIGTERM)
            log.warning("%s received: saving a checkpoint at step %d and stopping",
                        signal.Signals(self.received).name, state.global_step)
            control.should_save = True
            control.should_training_stop = True
            self.step = state.global_step
        return control

    def _stop_everywhere(self, args) -> bool:
        stop = self.received is not None
        if torch.distributed.is_available() and torch.distributed.is_initialized() and args.world_size > 1:
            flag = torch.tensor([int(stop)], device=args.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            stop = bool(flag.item())
        return stop

    # --- after training ----------------------------------------------------------------------------------
    @property
    def preempted(self) -> bool:
        return self.step is not None

    def requeue(self) -> None:
        """After a stop on a signal: let the previous (submitit's) handler requeue and exit, else raise Preempted."""
        if not self.preempted:
            return
        previous = self._chained.get(self.received)
        if callable(previous) and previous not in (signal.default_int_handler,):
            previous(self.received, None)  # submitit: requeues and exits, or raises that it will not
        raise Preempted(self.received, self.step)
