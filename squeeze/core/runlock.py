"""One run at a time in a run folder (issue 14).

`RunLock(out)` holds an exclusive `flock` on OUT/.squeeze.lock, with the holder's pid
written inside for the message. A second run into the same folder refuses at once with
one line; the kernel drops the lock when its holder dies, however it dies, so a lock left
by a killed run is simply taken over. One process may take the same folder's lock again
(a demo stage calling another stage): it is counted, not re-taken.

    with RunLock(out):
        clear_outputs(out, OUTPUTS)   # the previous run's results go as a set
        ...
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from squeeze.core.errors import SqueezeError

LOCK_NAME = ".squeeze.lock"
_HELD: dict[str, list] = {}  # resolved folder -> [file object, depth], this process's locks


class RunInUse(SqueezeError):
    """Another live process is writing into the run folder."""


class RunLock:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.path = self.root / LOCK_NAME

    def acquire(self) -> RunLock:
        import fcntl

        key = str(self.root.resolve())
        if key in _HELD:
            _HELD[key][1] += 1
            return self
        created = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        while True:
            handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                handle.close()
                self._remove_if_empty(created)
                raise RunInUse(
                    f"{self.root} is in use by another squeeze run (pid {holder}); "
                    "wait for it to finish or choose another --out"
                ) from None
            try:  # the holder we raced may have removed the file as it let go: lock the one that is there
                same = os.stat(self.path).st_ino == os.fstat(handle.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            handle.close()
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        _HELD[key] = [handle, 1, created]
        return self

    def release(self) -> None:
        key = str(self.root.resolve())
        entry = _HELD.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del _HELD[key]
            self.path.unlink(missing_ok=True)  # still ours: nobody else can lock it before we close
            entry[0].close()
            self._remove_if_empty(entry[2])

    def _remove_if_empty(self, created: bool) -> None:
        """A folder made only to hold the lock (a run that failed its checks) does not stay behind."""
        if created:
            try:
                self.root.rmdir()
            except OSError:  # not empty: the run wrote into it
                pass

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def clear_outputs(root: str | os.PathLike, names: Iterable[str]) -> None:
    """Remove an earlier run's outputs, so a new run never leaves them beside its own files.

    Call it holding the folder's lock, before the new run writes anything.
    """
    root = Path(root)
    for name in names:
        path = root / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
