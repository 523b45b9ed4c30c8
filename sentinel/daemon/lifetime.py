"""How a worker process ends: with its supervisor, and soon after a SIGTERM, whatever it is doing.

* **With its supervisor.** On Linux the worker asks the kernel for a parent-death signal (`PR_SET_PDEATHSIG`,
  SIGKILL): when the supervisor dies, even by `kill -9`, the worker dies at once. Nothing a dead supervisor
  would read is lost by that: whatever was still in the worker's results channel had no reader any more.
  (The signal follows the *thread* that started the worker; the supervisor starts every worker from its main
  thread.) Elsewhere, and as a fallback, the worker loop compares `os.getppid()` with the supervisor's pid.
* **Soon after SIGTERM.** SIGTERM wakes a thread of its own (through `signal.set_wakeup_fd`), not a handler
  on the main thread: the main thread may be blocked -- in the exit-time flush of its results channel
  (`sentinel.daemon.channels`) whose pipe is full, typically, which waits for ever once the supervisor stops
  reading -- and a handler that only sets the stop event changes nothing then. That thread sets the worker's
  stop event and, if the process is still there `grace` seconds later, ends it with `os._exit`.

And the multiprocessing resource tracker? The spawn context's tracker is a child of the supervisor; it exits
when the last holder of its pipe's write end does -- the supervisor and each worker (they inherit it). So
it goes as soon as the workers go.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
TERM_GRACE = 8.0  # SIGTERM -> hard exit; under the supervisor's own 10 s before it kills its workers


def supervisor_pid() -> int:
    """The pid of the process that started this one (multiprocessing records it; else the current parent)."""
    parent = multiprocessing.parent_process()
    pid = parent.pid if parent is not None else None
    return pid if pid is not None else os.getppid()


def die_with_parent(parent: int) -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where there is no such thing.

    Exits at once if the parent `parent` died before the request took effect."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        done = libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        done = False
    if not done:
        log.warning("cannot set the parent-death signal; relying on the parent pid check")
        return False
    if os.getppid() != parent:  # gone already: the kernel will not send the signal
        os._exit(1)
    return True


def end_soon_after_sigterm(stop: Callable[[], None], grace: float = TERM_GRACE) -> threading.Thread:
    """On SIGTERM: call `stop()` at once, and `os._exit(143)` if the process is still there `grace` s later.

    Call from the main thread. Python's own C-level handler writes the signal's number to a wakeup pipe from
    whichever thread the kernel picked (`signal.set_wakeup_fd`); a thread of ours reads it. So this works
    while the main thread is blocked in C, where a Python-level handler would wait its turn."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGTERM, lambda *_: None)  # a Python handler, so that the wakeup byte is written
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)

    def wait_for_sigterm() -> None:
        while signal.SIGTERM not in os.read(wake_r, 64):
            pass
        _say(f"SIGTERM: stopping (at most {grace:.0f} s)")
        stop()
        time.sleep(grace)
        _say(f"still running {grace:.0f} s after SIGTERM: exiting now")
        os._exit(128 + signal.SIGTERM)

    thread = threading.Thread(target=wait_for_sigterm, name="sigterm", daemon=True)
    thread.start()
    return thread


def _say(message: str) -> None:
    """A line on stderr without the logging module, whose locks another thread may hold."""
    with contextlib.suppress(OSError):
        os.write(2, f"worker {os.getpid()}: {message}\n".encode())
