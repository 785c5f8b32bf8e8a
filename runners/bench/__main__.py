"""`python -m runners.bench [options]` (what `make bench` runs): step times of LoRA, our AdaLoRA, PEFT's AdaLoRA
and full fine-tuning on the packaged MiniLM and a DeBERTa-v3-base-shaped model, the method step alone against the
number of adapted matrices, and peak memory; writes results/bench/latest.json and results/tables/bench.md."""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from .models import MODELS
from .report import render_markdown, write_atomic, write_json
from .run import QUICK, BusyMachine, Options, run_bench


class UsageError(ValueError):
    pass


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UsageError(f"{what} takes comma-separated positive integers, e.g. 12,24,48 (got {text!r})") from None
    if not values or min(values) < 1:
        raise UsageError(f"{what} takes comma-separated positive integers, e.g. 12,24,48 (got {text!r})")
    return values


def _batches(items: list[str]) -> dict[str, tuple[int, int]]:
    out = {}
    for item in items:
        name, _, size = item.partition("=")
        b, _, l = size.lower().partition("x")
        if name not in MODELS or not (b.isdigit() and l.isdigit()) or int(b) < 1 or int(l) < 1:
            raise UsageError(f"--batch takes MODEL=BATCHxTOKENS with MODEL one of {', '.join(MODELS)}, "
                             f"e.g. minilm=32x128 (got {item!r})")
        out[name] = (int(b), int(l))
    return out


def parse(argv: list[str]) -> tuple[Options, Path, Path]:
    parser = argparse.ArgumentParser(prog="python -m runners.bench", description=__doc__)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--models", default=None, help=f"comma-separated, from {', '.join(MODELS)} "
                                                       "(default: minilm,deberta-v3-base-shape)")
    parser.add_argument("--batch", action="append", default=[], metavar="MODEL=BxL",
                        help="sequences x tokens per step for a model, e.g. deberta-v3-base-shape=8x128 "
                             "(defaults: minilm 16x128, deberta-v3-base-shape 2x128)")
    parser.add_argument("--variants", default=None,
                        help="comma-separated variant names to time (default: all of lora, adalora, peft_adalora, "
                             "adalora_dt1, peft_adalora_dt1, full, adalora_final, adalora_sliced)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="measured interleaved rounds per model (default 30: enough for a bootstrap interval "
                             "that tells 1.03 from 1.09)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="warm-up rounds, not measured (default 3: the first masking step and every lazy "
                             "allocation)")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"],
                        help="fp32, or bf16 autocast as the Trainer's bf16=True (for --device cuda)")
    parser.add_argument("--allow-load", action="store_true",
                        help="run even when the machine is busy at the start (the record and table say so, and no "
                             "target counts as met under heavy load)")
    parser.add_argument("--delta-t", default="10,1", help="AdaLoRA masking intervals; the first is the headline "
                                                          "(default 10,1)")
    parser.add_argument("--scaling-layers", default=None,
                        help="DeBERTa-shaped layer counts for the method step alone (default 12,24,48; 0 = skip)")
    parser.add_argument("--scaling-repeats", type=int, default=None, help="rounds per size (default 10)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    parser.add_argument("--threads", default="auto",
                        help="torch CPU threads: a number, or auto (1 on a CPU, so that the ratios compare the step's "
                             "own CPU time; torch's default beside a GPU)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny models, four rounds, no memory processes: checks the machinery in seconds (never "
                             "refused for load, never a verdict)")
    parser.add_argument("--out", default="results/bench/latest.json", help="the JSON record")
    parser.add_argument("--table", default="results/tables/bench.md", help="the Markdown table")
    args = parser.parse_args(argv)

    opts = Options(**QUICK) if args.quick else Options()
    if args.device not in ("cpu", "cuda"):
        raise UsageError(f"--device {args.device!r}: use cpu or cuda")
    opts.device = args.device
    if args.models:
        names = tuple(x.strip() for x in args.models.split(",") if x.strip())
        unknown = [n for n in names if n not in MODELS]
        if unknown or not names:
            raise UsageError(f"--models: unknown {', '.join(unknown) or '(none)'}; choose from {', '.join(MODELS)}")
        opts.models = names
    opts.batches = _batches(args.batch)
    for field_, value in (("repeats", args.repeats), ("warmup", args.warmup), ("scaling_repeats", args.scaling_repeats)):
        if value is not None:
            if value < (0 if field_ == "warmup" else 1):
                raise UsageError(f"--{field_.replace('_', '-')} must be {'>= 0' if field_ == 'warmup' else '>= 1'}")
            setattr(opts, field_, value)
    opts.delta_ts = _ints(args.delta_t, "--delta-t")
    if args.variants:
        from .variants import variant_specs

        known = [s.name for s in variant_specs(opts.delta_ts)]
        chosen = tuple(x.strip() for x in args.variants.split(",") if x.strip())
        unknown = [v for v in chosen if v not in known]
        if unknown or not chosen:
            raise UsageError(f"--variants: unknown {', '.join(unknown) or '(none)'}; choose from {', '.join(known)}")
        opts.variants = chosen
    if args.scaling_layers is not None:
        opts.scaling_layers = () if args.scaling_layers.strip() == "0" else _ints(args.scaling_layers,
                                                                                  "--scaling-layers")
    if args.no_memory:
        opts.memory = False
    if args.threads != "auto" and not (args.threads.isdigit() and int(args.threads) >= 1):
        raise UsageError(f"--threads {args.threads!r}: give a positive number or auto")
    opts.threads = args.threads
    opts.dtype = args.dtype
    opts.allow_load = args.allow_load
    return opts, Path(args.out), Path(args.table)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore", category=FutureWarning)   # transformers' deprecation notices, not ours
    try:
        opts, out, table = parse(argv)
        if opts.device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise UsageError("--device cuda: no CUDA device is visible here; run on a GPU machine or use --device cpu")
        try:
            import peft  # noqa: F401
        except ImportError:
            raise UsageError("the benchmark compares against PEFT's AdaLoRA: run `make install` (peft is a test "
                             "dependency)") from None
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        record = run_bench(opts, argv, progress=lambda line: print(line, flush=True))
    except BusyMachine as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    markdown = render_markdown(record)
    write_json(record, out)
    write_atomic(table, markdown)
    print()
    print(markdown)
    print(f"wrote {out} and {table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
