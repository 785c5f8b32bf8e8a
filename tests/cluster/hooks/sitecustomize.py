"""Loaded by Python at start-up where tests/cluster/hooks is on PYTHONPATH: the cluster tests put it there, and
sbatch hands the environment on to the jobs. With ADALORA_TEST_STEP_DELAY=SECONDS, every training step of the
suite's trainer first sleeps that long, so a test can requeue, time out or cancel a real SLURM job while it trains
(tests/slow_steps.py does the same for a process started by hand). The sleep changes no number the run computes.
Without the variable nothing is touched, and neither in a job that SLURM has requeued (SLURM_RESTART_COUNT > 0):
the slowing is there to catch the first run mid-training; the requeued run goes at full speed."""
import os
import sys

DELAY = os.environ.get("ADALORA_TEST_STEP_DELAY")


class _SlowSteps:
    """A meta-path finder that lets runners.training load as usual, then slows MethodTrainer.training_step."""

    def find_spec(self, name, path=None, target=None):
        if name != "runners.training":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        exec_module = spec.loader.exec_module

        def exec_and_slow(module):
            exec_module(module)
            import time

            step = module.MethodTrainer.training_step

            def slowed(self, *args, **kwargs):
                time.sleep(float(DELAY))
                return step(self, *args, **kwargs)

            module.MethodTrainer.training_step = slowed

        spec.loader.exec_module = exec_and_slow
        return spec


if DELAY and int(os.environ.get("SLURM_RESTART_COUNT") or 0) == 0:
    sys.meta_path.insert(0, _SlowSteps())
