"""Claims: two processes never run the same cell at once; a claim whose holder died is taken over."""
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time

from runners.reliability import claims
from runners.reliability.claims import Claim, claim_path, try_claim
from runners.records import read_record, write_json_atomic


def test_a_held_claim_turns_others_away_until_released(tmp_path):
    record = tmp_path / "cell" / "seed1.json"
    first = try_claim(record)
    assert isinstance(first, Claim) and claim_path(record).is_file()
    second = try_claim(record)
    assert not isinstance(second, Claim) and second["pid"] == os.getpid() and second["host"] == socket.gethostname()
    first.release()
    assert not claim_path(record).exists()
    with try_claim(record) as third:
        assert isinstance(third, Claim)
    assert not claim_path(record).exists()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_claim(path, host, pid, age_s=0.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": host, "pid": pid, "token": "theirs"}))
    then = time.time() - age_s
    os.utime(path, (then, then))


def test_the_claim_of_a_dead_process_is_taken_over(tmp_path, caplog):
    record = tmp_path / "seed1.json"
    write_claim(claim_path(record), socket.gethostname(), dead_pid())
    got = try_claim(record)
    assert isinstance(got, Claim) and "stale claim" in caplog.text
    got.release()


def test_a_claim_from_another_host_is_stale_only_without_heartbeat(tmp_path):
    record = tmp_path / "seed1.json"
    write_claim(claim_path(record), "node-elsewhere", 12345, age_s=10)
    assert not isinstance(try_claim(record), Claim)
    write_claim(claim_path(record), "node-elsewhere", 12345, age_s=claims.STALE_AFTER_S + 5)
    got = try_claim(record)
    assert isinstance(got, Claim)
    got.release()


def test_the_heartbeat_keeps_a_long_run_fresh(tmp_path, monkeypatch):
    monkeypatch.setattr(claims, "HEARTBEAT_S", 0.05)
    record = tmp_path / "seed1.json"
    with try_claim(record):
        path = claim_path(record)
        os.utime(path, (time.time() - 1000, time.time() - 1000))
        time.sleep(0.3)
        assert time.time() - path.stat().st_mtime < 5


def sweep(results, cells, log):
    """What a sweep does per cell: skip it if finished or claimed, else 'train' (sleep) and write its record."""
    for cell in range(cells):
        record = results / f"cell{cell}" / "seed1.json"
        got = try_claim(record)
        if not isinstance(got, Claim):
            continue
        with got:
            if read_record(record) is not None:
                continue
            time.sleep(0.02)  # training
            with open(log, "a") as f:
                f.write(f"{cell} {os.getpid()}\n")
            write_json_atomic(record, {"cell": cell, "pid": os.getpid(), "status": "ok", "payload": "x" * 10000})


def test_two_processes_sweeping_one_results_folder_run_each_cell_once(tmp_path):
    ctx = multiprocessing.get_context("fork")
    log = tmp_path / "ran.log"
    procs = [ctx.Process(target=sweep, args=(tmp_path / "runs", 30, log)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    ran = [line.split()[0] for line in log.read_text().splitlines()]
    assert sorted(ran, key=int) == [str(c) for c in range(30)]  # every cell ran, and only once
    assert len({line.split()[1] for line in log.read_text().splitlines()}) == 2  # both processes took cells
    for cell in range(30):
        assert read_record(tmp_path / "runs" / f"cell{cell}" / "seed1.json")["cell"] == cell
    leftovers = [p.name for p in (tmp_path / "runs").rglob("*") if p.is_file() and not p.name.endswith(".json")]
    assert leftovers == []  # no claim or temporary file left behind
