"""A disk cache of judgments: SQLite in WAL mode (DESIGN section 10, "Every judgment is cached").

The key is the sha256 of (backend, model, prompt version, question, reference,
generation, and the item's wrong answers when it has any), and of the judge's server (its base URL) when it has one: another server
serving the same model name is another judge (issue 14). The item id is not part of it, so the same text judged under two ids is
judged once. Each finished judgment is written in its own auto-committed INSERT the
moment the backend reports it, so a run killed mid-way keeps everything it finished, and
a re-run of the same items makes no backend call. Several processes and threads may
write one cache at once: WAL lets readers run beside the single writer, and a busy
timeout makes writers queue instead of failing. A judgment with an error (a transport
failure, or an answer that could not be parsed after the retries) is not cached, so a
re-run tries it again.

    cache = JudgmentCache(".cache/judges.sqlite")
    judge = CachedJudge(make_judge("openai", base_url=url, model=name), cache)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from judges.base import Judge, JudgeItem, Judgment, ResultCallback

_SCHEMA = """
CREATE TABLE IF NOT EXISTS judgments (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""
_BUSY_TIMEOUT_MS = 60_000
_LOOKUP_CHUNK = 500  # keys per SELECT ... IN (...), under SQLite's parameter limit


class CacheError(ValueError):
    """The cache file cannot be used (not a SQLite file, not ours, unreadable)."""


def cache_key(backend: str, model: str, prompt_version: str, item: JudgeItem, server: str = "") -> str:
    fields = [backend, model, prompt_version, item.prompt, item.reference, item.generation]
    if item.wrong_answers:  # items without them keep the keys they always had
        fields.append(list(item.wrong_answers))
    if server:  # judges without a server keep the keys they always had
        fields.append(server)
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode("utf-8")).hexdigest()


def _enable_wal(conn: sqlite3.Connection) -> None:
    # WAL is a property of the file: once one process has set it, the others only read it.
    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        conn.execute("PRAGMA journal_mode = WAL")


def _retry_while_locked(operation) -> None:
    """Run `operation`, retrying while another process holds the file.

    Switching the journal mode, and the first statements on a file that another process
    is creating, can fail with "database is locked" at once: SQLite does not call the busy
    handler there. Several processes opening one new cache at the same moment hit this.
    """
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            operation()
            return
        except sqlite3.OperationalError as error:
            message = str(error).lower()
            if ("locked" not in message and "busy" not in message) or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.2)


class JudgmentCache:
    """Judgments on disk by key. One SQLite connection per thread and per process."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"judgment cache {self.path}: cannot create its folder ({exc.strerror})") from None
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:  # create the file and table now, and read it once: a bad or corrupt file fails here
            self._connection().execute("SELECT key, payload FROM judgments LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise CacheError(
                f"judgment cache {self.path} cannot be used ({exc}); delete it or pass another cache path"
            ) from None

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        # A connection must not cross a fork: a child process opens its own.
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            _retry_while_locked(lambda: _enable_wal(conn))
            # NORMAL in WAL mode: a commit survives the process being killed; only a power
            # cut can lose the last few, and never corrupts the file.
            conn.execute("PRAGMA synchronous = NORMAL")
            _retry_while_locked(lambda: conn.execute(_SCHEMA))
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._lock:
                self._connections.append(conn)
        return conn

    def get_many(self, keys: Iterable[str]) -> dict[str, Judgment]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, Judgment] = {}
        conn = self._connection()
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = keys[start : start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            for key, payload in conn.execute(f"SELECT key, payload FROM judgments WHERE key IN ({marks})", chunk):
                found[key] = Judgment.from_dict(json.loads(payload))
        return found

    def get(self, key: str) -> Judgment | None:
        return self.get_many([key]).get(key)

    def put(self, key: str, judgment: Judgment) -> None:
        """Store one judgment, committed before this returns."""
        payload = json.dumps(dataclasses.replace(judgment, cached=False).to_dict(), ensure_ascii=False)
        self._connection().execute(
            "INSERT OR REPLACE INTO judgments (key, backend, model, prompt_version, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (key, judgment.backend, judgment.model, judgment.prompt_version, payload, time.time()),
        )

    def __len__(self) -> int:
        return self._connection().execute("SELECT COUNT(*) FROM judgments").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                try:
                    conn.close()
                except sqlite3.ProgrammingError:  # opened in another thread
                    pass
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self) -> JudgmentCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class CachedJudge:
    """A judge that answers from the cache and sends only the misses, each unique text once."""

    def __init__(self, judge: Judge, cache: JudgmentCache):
        self.inner = judge
        self.cache = cache
        self.backend, self.model, self.prompt_version = judge.backend, judge.model, judge.prompt_version
        self.server = getattr(judge, "server", "") or ""

    def key(self, item: JudgeItem) -> str:
        return cache_key(self.backend, self.model, self.prompt_version, item, self.server)

    def judge(self, items: Sequence[JudgeItem], on_result: ResultCallback | None = None) -> list[Judgment]:
        keys = [self.key(item) for item in items]
        hits = self.cache.get_many(keys)
        results: list[Judgment | None] = [None] * len(items)
        waiting: dict[str, list[int]] = {}  # key -> indices of the items that share it
        for index, key in enumerate(keys):
            if key in hits:
                self._deliver(index, dataclasses.replace(hits[key], cached=True), items, results, on_result)
            else:
                waiting.setdefault(key, []).append(index)
        unique_keys = list(waiting)
        unique_items = [items[waiting[key][0]] for key in unique_keys]
        done: set[int] = set()

        def finished(position: int, judgment: Judgment) -> None:
            if position in done:
                return
            done.add(position)
            key = unique_keys[position]
            if judgment.error is None:
                self.cache.put(key, judgment)
            for index in waiting[key]:
                self._deliver(index, judgment, items, results, on_result)

        if unique_items:
            returned = self.inner.judge(unique_items, on_result=finished)
            for position, judgment in enumerate(returned):  # a backend that skipped a callback
                finished(position, judgment)
        return results  # type: ignore[return-value]

    @staticmethod
    def _deliver(index, judgment, items, results, on_result) -> None:
        # Same text, possibly another id: the judgment carries the id it was asked under.
        judgment = dataclasses.replace(judgment, item_id=items[index].item_id)
        results[index] = judgment
        if on_result is not None:
            on_result(index, judgment)
