"""Worker processes that die with their parent (issue 14).

`train-original` trains its models in worker processes. Killed, the parent must not leave
them running: they would write original/ and retain/ minutes later into a folder that a
new run may already be using, and then hang holding their memory. Each worker calls
`die_with_parent` first: on Linux the kernel sends it SIGKILL when the parent dies
(PR_SET_PDEATHSIG); everywhere, a watchdog thread ends it once its parent is gone.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
WATCH_EVERY_S = 0.5


def _set_parent_death_signal() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the watchdog still ends us
        pass


def _watch(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)  # orphaned: nobody will read what we make
        time.sleep(WATCH_EVERY_S)


def die_with_parent(parent_pid: int) -> None:
    """Make this process end when `parent_pid` (the process that started it) ends."""
    _set_parent_death_signal()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), daemon=True, name="parent-watchdog").start()
