"""What keeps a run's results trustworthy when something goes wrong: one process per cell (claims), checkpoints
that are complete or absent (checkpoints), a clean stop on preemption signals (preemption), a NaN / inf loss
stopping the run with a failed record (divergence), and which process of a multi-process run is which
(distributed)."""
