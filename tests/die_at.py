"""`python tests/die_at.py POINT key=value ...`: run.py, killed with SIGKILL (no handler runs, nothing is flushed)
at one point of the run, as a crash or a node failure would stop it there:

  step:N         as optimizer step N begins (N=1: before any checkpoint)
  checkpoint:N   just after checkpoint-N is complete and in place
  evaluation     when the trained model starts predicting on the evaluation set
  record         during the record write: its temporary file is complete, the rename to seedS.json not yet done

The test then reruns the plain command and compares its end with an uninterrupted run's."""
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import transformers  # noqa: E402

from runners import training  # noqa: E402
from runners.reliability import checkpoints  # noqa: E402

point = sys.argv.pop(1)
where, _, arg = point.partition(":")


def die() -> None:
    print(f"die_at: SIGKILL at {point}", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


if where == "step":
    step = training.MethodTrainer.training_step

    def training_step(self, *args, **kwargs):
        if self.state.global_step + 1 == int(arg):
            die()
        return step(self, *args, **kwargs)

    training.MethodTrainer.training_step = training_step
elif where == "checkpoint":
    publish = checkpoints.publish

    def published(staging, final):
        publish(staging, final)
        if Path(final).name == f"checkpoint-{arg}":
            die()

    checkpoints.publish = published
elif where == "evaluation":
    predict = transformers.Trainer.predict

    def predicting(self, *args, **kwargs):
        die()
        return predict(self, *args, **kwargs)

    transformers.Trainer.predict = predicting
elif where == "record":
    replace = os.replace

    def replacing(src, dst, *args, **kwargs):
        if str(dst).endswith(".json") and Path(dst).name.startswith("seed") and "/runs/" in str(dst):
            die()
        return replace(src, dst, *args, **kwargs)

    os.replace = replacing
else:
    sys.exit(f"die_at: unknown point {point!r}")

from runners.cli import main  # noqa: E402

main()
