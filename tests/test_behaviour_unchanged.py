"""Refactors change no behaviour: a short fixed-seed run of every method gives the records and checkpoints the code
gave before (tests/data/behaviour_fingerprint.json, written by tests/behaviour_fingerprint.py at d4b9887, before
the architecture refactor of issue 12). Bit for bit where the machine matches the one that wrote the file (the
same torch build and CPU flags; CI runs on such a machine); elsewhere floats may differ in the last bits, and the
records' structure and integers must still match.

A deliberate change of behaviour regenerates the file (`python tests/behaviour_fingerprint.py write`) in the same
commit, with the reason in the commit message."""
import json

from behaviour_fingerprint import STORED, fingerprint, machine_signature, run_all


def _same(stored, fresh, where: str, exact: bool, problems: list[str]) -> None:
    if isinstance(stored, dict):
        if not isinstance(fresh, dict):
            problems.append(f"{where}: {stored!r} became {fresh!r}")
            return
        for k in stored:  # what the old code wrote must be there and equal; additions are allowed
            if k not in fresh:
                problems.append(f"{where}.{k}: missing")
            else:
                _same(stored[k], fresh[k], f"{where}.{k}", exact, problems)
    elif isinstance(stored, float) and isinstance(fresh, float) and not exact:
        if abs(stored - fresh) > 1e-6 * max(1.0, abs(stored)):
            problems.append(f"{where}: {stored!r} became {fresh!r}")
    elif stored != fresh and not (not exact and isinstance(stored, str) and "/" in stored and stored.split("/")[-1] == str(fresh).split("/")[-1]):
        problems.append(f"{where}: {stored!r} became {fresh!r}")


def test_every_method_runs_as_before(tmp_path):
    stored = json.loads(STORED.read_text())
    exact = stored["signature"] == machine_signature()
    run_all(tmp_path)
    fresh = fingerprint(tmp_path)
    assert sorted(fresh) == sorted(stored["runs"])
    problems: list[str] = []
    for cell, old in stored["runs"].items():
        _same(old["record"], fresh[cell]["record"], f"{cell} record", exact, problems)
        for checkpoint, files in old["checkpoints"].items():
            new_files = fresh[cell]["checkpoints"].get(checkpoint, {})
            old_tensors = {k: v for f in files.values() for k, v in f.items()}
            new_tensors = {k: v for f in new_files.values() for k, v in f.items()}
            _same(old_tensors, new_tensors, f"{cell} {checkpoint}", exact, problems)
    assert not problems, f"{len(problems)} differences (exact={exact}):\n" + "\n".join(problems[:30])
