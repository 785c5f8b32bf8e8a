"""Split one local evaluation file into train and validation files, for CPU-scale runs on the offline subsets.

    python -m tasks.split squad ../shared/data/squad/xquad-en-v1.1.json data/squad-split
        -> data/squad-split/train.json, dev.json   (SQuAD JSON, split by article: no context in both)
    python -m tasks.split jsonl ../shared/data/xsum/test-subset.jsonl data/xsum-split
        -> data/xsum-split/train.jsonl, validation.jsonl   (split by row)

Then `python run.py task=squad task.data_dir=data/squad-split ...` (or task=xsum task.data_dir=data/xsum-split).
`--validation-share` (default 0.2) sets the validation part, `--seed` (default 0) which articles or rows go
there; the same arguments always give the same files. Nothing is written unless both parts are non-empty.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from .errors import DataError
from .sources import read_json


def pick(n: int, share: float, seed: int) -> set[int]:
    """The indices (of n items) that go to validation: round(share x n), at least 1 and at most n - 1."""
    if not 0 < share < 1:
        raise DataError(f"--validation-share={share} must be between 0 and 1")
    if n < 2:
        raise DataError(f"cannot split {n} item(s) into train and validation")
    k = min(n - 1, max(1, round(share * n)))
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return set(order[:k])


def split_squad(source: Path, out: Path, share: float = 0.2, seed: int = 0) -> dict[str, int]:
    data = read_json(source)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(f"{source} is not SQuAD JSON: expected an object with a 'data' list of articles")
    articles = data["data"]
    held_out = pick(len(articles), share, seed)
    parts = {"train.json": [a for i, a in enumerate(articles) if i not in held_out],
             "dev.json": [a for i, a in enumerate(articles) if i in held_out]}
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, part in parts.items():
        body = {key: value for key, value in data.items() if key != "data"}
        body["data"] = part
        (out / name).write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
        counts[name] = sum(len(p["qas"]) for a in part for p in a["paragraphs"])
    return counts


def split_jsonl(source: Path, out: Path, share: float = 0.2, seed: int = 0) -> dict[str, int]:
    try:
        lines = [line for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as err:
        raise DataError(f"cannot read {source}: {err.strerror}") from err
    for number, line in enumerate(lines, start=1):
        try:
            json.loads(line)
        except ValueError:
            raise DataError(f"{source} line {number} is not a JSON object (expected JSONL)") from None
    held_out = pick(len(lines), share, seed)
    parts = {"train.jsonl": [l for i, l in enumerate(lines) if i not in held_out],
             "validation.jsonl": [l for i, l in enumerate(lines) if i in held_out]}
    out.mkdir(parents=True, exist_ok=True)
    for name, part in parts.items():
        (out / name).write_text("\n".join(part) + "\n", encoding="utf-8")
    return {name: len(part) for name, part in parts.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.split", description=__doc__.split("\n\n")[0])
    parser.add_argument("format", choices=("squad", "jsonl"), help="squad: split SQuAD JSON by article; jsonl: by row")
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path, help="folder for the two files (task.data_dir)")
    parser.add_argument("--validation-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    split = split_squad if args.format == "squad" else split_jsonl
    try:
        counts = split(args.source, args.out, args.validation_share, args.seed)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    unit = "questions" if args.format == "squad" else "rows"
    print(", ".join(f"{args.out / name}: {n} {unit}" for name, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
