"""Move result records to the current config-hash rule (runners/keys.py), checking each one's old hash first.

    python -m runners.rehash [results/]          # rewrites what it can verify; lists what it cannot (exit 1)
    python -m runners.rehash --check [results/]  # changes nothing; exit 1 if a record needs moving

Rule 1 hashed a run's config before the budget's sizes were written into it, so a record whose label resolved
to other sizes than its method config's (51 records of the CPU reproduction) stored a hash its own config could
not reproduce. A record is moved only if its stored hash is reproduced, under rule 1, by its stored config with
the label-set sizes put back to what the config held before resolution: the values its method config had at the
record's commit (`git show <commit>:conf/method/<name>.yaml`), at HEAD, or the stored values themselves. The
record then gets the rule-2 hash of its stored config, `config_hash_rule: 2` and `config_hash_migrated` (the old
hash and how it was verified). Nothing else in the record changes; each file is rewritten atomically.
"""
from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
from pathlib import Path

import yaml

from .keys import HASH_RULE, NOT_HASHED, config_hash, hash_of, label_sized
from .records import write_json_atomic

REPO = Path(__file__).resolve().parent.parent


def _method_yaml(name: str, commit: str | None) -> dict | None:
    if commit:
        done = subprocess.run(["git", "show", f"{commit}:conf/method/{name}.yaml"], cwd=REPO, capture_output=True,
                              text=True)
        return yaml.safe_load(done.stdout) if done.returncode == 0 else None
    path = REPO / "conf" / "method" / f"{name}.yaml"
    return yaml.safe_load(path.read_text()) if path.is_file() else None


def _candidates(record: dict, sized: set[str]):
    """(how, pre-resolution config) pairs to try."""
    config = record["config"]
    yield "stored sizes", config
    commit = (record.get("git") or {}).get("commit")
    for how, source in ((f"conf/method at {commit[:12] if commit else '?'}", commit), ("conf/method at HEAD", None)):
        if source is None and how != "conf/method at HEAD":
            continue
        defaults = _method_yaml(config["method"]["name"], source)
        if not defaults:
            continue
        trial = copy.deepcopy(config)
        for path in sized:
            field = path.split(".", 1)[1]
            if field in defaults:
                trial["method"][field] = defaults[field]
        yield how, trial


# Settings unhashed after rule 2 was introduced: a record written by a process that had loaded the rule before
# one of them was added (while composing each job's config from the current files) hashed it; verifiable too.
UNHASHED_LATER = {"trainer.gradient_checkpointing"}


def verify_rule1(record: dict) -> str | None:
    """How the record's stored hash was reproduced under an earlier rule (1, or 2 before a setting in
    UNHASHED_LATER was unhashed), or None."""
    sized = label_sized(record["config"])
    for how, trial in _candidates(record, sized):
        if hash_of(trial, NOT_HASHED) == record.get("config_hash"):
            return how
    if hash_of(record["config"], (NOT_HASHED - UNHASHED_LATER) | sized) == record.get("config_hash"):
        return f"rule 2 with {', '.join(sorted(UNHASHED_LATER))} hashed"
    return None


def migrate(root: Path, check: bool = False) -> tuple[int, int, list[str]]:
    """(moved, already current, problems) over every record under `root`."""
    moved, current, problems = 0, 0, []
    for path in sorted(root.rglob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or "config_hash" not in record or not isinstance(record.get("config"), dict):
            continue
        new = config_hash(record["config"])
        if record["config_hash"] == new:
            current += 1
            if not check and record.get("config_hash_rule") != HASH_RULE:
                write_json_atomic(path, {**record, "config_hash_rule": HASH_RULE})
            continue
        how = verify_rule1(record)
        if how is None:
            problems.append(f"{path}: stored hash {record['config_hash']} is not reproduced by its config under rule 1 "
                            f"or rule 2 (rule 2 gives {new}); left unchanged")
            continue
        if check:
            problems.append(f"{path}: old hash {record['config_hash']} (verified: {how}); rule 2 gives {new}")
            continue
        record["config_hash_migrated"] = {"from": record["config_hash"], "rule": 2 if how.startswith("rule 2") else 1,
                                          "verified_by": how}
        record["config_hash"] = new
        record["config_hash_rule"] = HASH_RULE
        write_json_atomic(path, record)
        moved += 1
    return moved, current, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runners.rehash", description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="*", default=["results"], help="folders of result records (default results/)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a record needs moving")
    args = parser.parse_args(argv)
    failed = False
    for root in map(Path, args.roots):
        if not root.is_dir():
            print(f"{root} is not a folder: give the folder that holds result records", file=sys.stderr)
            return 2
        moved, current, problems = migrate(root, args.check)
        print(f"{root}: {moved} moved to rule {HASH_RULE}, {current} already current, {len(problems)} not moved")
        for line in problems:
            print(f"  {line}")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
