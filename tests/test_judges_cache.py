"""The SQLite judgment cache: concurrent writers, kills mid-run, re-runs with no calls."""

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
from helpers.judge_server import JudgeServer, expected_scores

from judges import make_judge
from judges.base import JudgeItem, Judgment
from judges.cache import CachedJudge, JudgmentCache, _retry_while_locked, cache_key

REFERENCE = "Ada Lovelace was born in London"


def items(n, prefix="gen"):
    return [
        JudgeItem("Where was Ada born?", REFERENCE, f"{prefix}{i} born in London", item_id=f"id{i}") for i in range(n)
    ]


def openai_judge(server, **config):
    return make_judge("openai", base_url=server.base_url, model="rule", backoff_base_s=0.01, timeout_s=5.0, **config)


def a_judgment(key_text: str, score: float = 3.0) -> Judgment:
    return Judgment(key_text, "q", "r", key_text, score, score, "why", "{}", "test", "m", "v1", 0.1)


@pytest.fixture
def server():
    with JudgeServer() as running:
        yield running


def test_key_covers_backend_model_version_and_inputs_but_not_the_id():
    item = JudgeItem("q", "r", "g", item_id="a")
    base = cache_key("openai", "m", "v1", item)
    assert base == cache_key("openai", "m", "v1", dataclasses.replace(item, item_id="b"))
    variants = [
        cache_key("hf", "m", "v1", item),
        cache_key("openai", "m2", "v1", item),
        cache_key("openai", "m", "v2", item),
        cache_key("openai", "m", "v1", JudgeItem("q2", "r", "g")),
        cache_key("openai", "m", "v1", JudgeItem("q", "r2", "g")),
        cache_key("openai", "m", "v1", JudgeItem("q", "r", "g2")),
        cache_key("openai", "m", "v1", JudgeItem("q", "r", "g", wrong_answers=("w",))),
    ]
    assert len({base, *variants}) == 8
    assert len(base) == 64


def test_an_item_without_wrong_answers_keeps_the_key_it_always_had():
    # The key before wrong answers existed: sha256 of the JSON list of the six fields.
    import hashlib
    import json

    fields = ["embedding", "m", "v1", "q", "r", "g"]
    expected = hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode("utf-8")).hexdigest()
    assert cache_key("embedding", "m", "v1", JudgeItem("q", "r", "g")) == expected


def test_round_trip_in_wal_mode(tmp_path):
    path = tmp_path / "sub" / "cache.sqlite"
    with JudgmentCache(path) as cache:
        cache.put("k", a_judgment("x", 4.0))
        assert cache.get("k") == a_judgment("x", 4.0)
        assert cache.get("missing") is None and len(cache) == 1
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_second_run_makes_zero_calls(server, tmp_path):
    batch = items(10)
    with JudgmentCache(tmp_path / "c.sqlite") as cache:
        first = CachedJudge(openai_judge(server), cache).judge(batch)
    assert server.requests == 20 and not any(j.cached for j in first)
    server.reset_counts()
    # A fresh cache object on the same file, as a new process would open it.
    with JudgmentCache(tmp_path / "c.sqlite") as cache:
        seen = []
        second = CachedJudge(openai_judge(server), cache).judge(batch, on_result=lambda i, j: seen.append(i))
    assert server.requests == 0
    assert sorted(seen) == list(range(10))
    assert all(j.cached for j in second)
    assert [dataclasses.replace(j, cached=False) for j in second] == first


def test_same_text_is_judged_once_and_keeps_each_id(server, tmp_path):
    twice = [
        JudgeItem("q", REFERENCE, "born in London", item_id="a"),
        JudgeItem("q", REFERENCE, "born in London", item_id="b"),
    ]
    with JudgmentCache(tmp_path / "c.sqlite") as cache:
        judgments = CachedJudge(openai_judge(server), cache).judge(twice)
    assert server.requests == 2
    assert [j.item_id for j in judgments] == ["a", "b"]
    assert judgments[0].similarity == judgments[1].similarity == expected_scores(REFERENCE, "born in London")[0]


def test_failures_are_not_cached_so_a_rerun_retries_them(server, tmp_path):
    batch = items(3)
    server.plan.for_item(batch[1].generation, "500", times=2, aspect="similarity")
    with JudgmentCache(tmp_path / "c.sqlite") as cache:
        judge = CachedJudge(openai_judge(server, max_attempts=2), cache)
        first = judge.judge(batch)
        assert first[1].error and first[1].similarity is None
        assert len(cache) == 2
        server.reset_counts()
        second = judge.judge(batch)
    assert server.requests == 2  # only the failed item, both aspects
    assert second[1].error is None and not second[1].cached
    assert second[0].cached and second[2].cached


WRITER = textwrap.dedent("""
    import os, sys, threading, time
    from judges.base import Judgment
    from judges.cache import JudgmentCache
    path, proc, go = sys.argv[1], sys.argv[2], sys.argv[3]
    cache = JudgmentCache(path)
    print("ready", flush=True)
    while not os.path.exists(go):  # start writing together with the other processes
        time.sleep(0.005)
    def write(thread):
        for i in range(40):
            text = f"p{proc}-t{thread}-{i}"
            cache.put(text, Judgment(text, "q", "r", text, 1.0, 2.0, "why", "{}", "test", "m", "v1", 0.0))
            cache.put("shared", Judgment("shared", "q", "r", "g", 1.0, 2.0, "why", proc, "test", "m", "v1", 0.0))
    threads = [threading.Thread(target=write, args=(t,)) for t in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    print("ok", flush=True)
""")


def test_concurrent_writers_from_several_processes(tmp_path):
    path, go = tmp_path / "shared.sqlite", tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(p), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in range(4)
    ]
    ready = [proc.stdout.readline().strip() for proc in procs]
    assert ready == ["ready"] * 4, [proc.communicate(timeout=60)[1] for proc in procs]
    go.touch()
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, [err for _, err in outputs]
    with JudgmentCache(path) as cache:
        assert len(cache) == 4 * 3 * 40 + 1
        found = cache.get_many([f"p{p}-t{t}-{i}" for p in range(4) for t in range(3) for i in range(40)])
        assert len(found) == 480 and all(j.item_id == key for key, j in found.items())
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


RUNNER = textwrap.dedent("""
    import sys
    from judges import make_judge
    from judges.base import JudgeItem
    from judges.cache import CachedJudge, JudgmentCache
    url, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    items = [JudgeItem("Where was Ada born?", "Ada Lovelace was born in London", f"gen{i} born in London", item_id=f"id{i}")
             for i in range(n)]
    judge = CachedJudge(make_judge("openai", base_url=url, model="rule", concurrency=2, timeout_s=5.0), JudgmentCache(path))
    judge.judge(items, on_result=lambda i, j: print("DONE", i, flush=True))
""")


def test_a_run_killed_midway_loses_no_finished_judgment(tmp_path):
    # 60 items at 2 requests in flight and 0.1 s a request take the child 6 s: it is killed
    # long before it could finish, even on a busy machine.
    path, n = tmp_path / "c.sqlite", 60
    with JudgeServer(latency_s=0.1) as server:
        proc = subprocess.Popen(
            [sys.executable, "-c", RUNNER, server.base_url, str(path), str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        finished = []
        deadline = time.monotonic() + 60
        while len(finished) < 6 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            finished.append(int(line.split()[1]))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert len(finished) == 6, proc.stderr.read()
        batch = items(n)
        with JudgmentCache(path) as cache:
            judge = CachedJudge(make_judge("openai", base_url=server.base_url, model="rule", timeout_s=5.0), cache)
            stored = cache.get_many([judge.key(item) for item in batch])
            assert {judge.key(batch[i]) for i in finished} <= set(stored)
            assert len(stored) < n  # it really was killed mid-way
            server.reset_counts()
            judgments = judge.judge(batch)
        # The re-run asks only for what the killed run had not finished.
        assert server.requests == 2 * (n - len(stored))
        assert sum(j.cached for j in judgments) == len(stored)
        for item, judgment in zip(batch, judgments, strict=False):
            assert judgment.item_id == item.item_id and judgment.parsed
            assert judgment.similarity == expected_scores(item.reference, item.generation)[0]


OPENER = textwrap.dedent("""
    import os, sys, time
    from judges.cache import JudgmentCache
    path, go = sys.argv[1], sys.argv[2]
    while not os.path.exists(go):
        time.sleep(0.001)
    JudgmentCache(path).close()
""")


def test_many_processes_can_create_one_new_cache_at_the_same_moment(tmp_path):
    # Two processes switching a new file to WAL at once can each be told "database is
    # locked" without SQLite waiting; before the retry this failed about one open in 150.
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, str(tmp_path / f"c{round_}.sqlite"), str(go)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for round_ in range(4)
        for _ in range(6)
    ]
    time.sleep(2.0)  # let every interpreter reach the wait loop
    go.touch()
    errors = [proc.communicate(timeout=120)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * len(procs), [e for e in errors if e]


def test_lock_errors_are_retried_and_other_errors_are_not():
    calls = []

    def locked_twice():
        calls.append(1)
        if len(calls) <= 2:
            raise sqlite3.OperationalError("database is locked")

    _retry_while_locked(locked_twice)
    assert len(calls) == 3

    def broken():
        calls.append(1)
        raise sqlite3.OperationalError("no such table: judgments")

    calls.clear()
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        _retry_while_locked(broken)
    assert calls == [1]
