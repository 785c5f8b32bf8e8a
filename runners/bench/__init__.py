"""`make bench`: what AdaLoRA costs next to LoRA, PEFT's AdaLoRA and full fine-tuning (issue 8).

In one process, variants interleaved round by round after warm-up, the median training step (forward + backward
with the regulariser, clipping, fused AdamW, the method step) of each variant at equal budget, on the packaged
MiniLM and on a DeBERTa-v3-base-shaped model; the method step alone against the number of adapted matrices; the
peak memory of each variant in a fresh process. Writes results/bench/latest.json and results/tables/bench.md.
"""
from .run import Options, run_bench

__all__ = ["Options", "run_bench"]
