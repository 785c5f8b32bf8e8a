"""`python tests/slow_steps.py SECONDS key=value ...`: run.py with every training step slowed by SECONDS, so a test
can signal or kill a real run in the middle of training. The sleep changes no number the run computes."""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runners import training  # noqa: E402

delay = float(sys.argv.pop(1))
step = training.MethodTrainer.training_step


def slowed(self, *args, **kwargs):
    time.sleep(delay)
    return step(self, *args, **kwargs)


training.MethodTrainer.training_step = slowed

from runners.cli import main  # noqa: E402

main()
