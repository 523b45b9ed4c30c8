"""Each analysis worker's own results channel: a one-way pipe from that worker to the supervisor.

Why not one multiprocessing Queue for all workers? Its writers share a lock (another process's semaphore)
and one pipe. A worker killed -- SIGKILL, the OOM killer -- while its feeder thread holds the lock leaves it
held for ever: every other worker's messages stop, and with them every camera. Killed in the middle of a
message, it leaves a torn message in the shared pipe, and the reader, which holds the pipe's write end
itself, waits for the rest of it for ever.

Here a pipe has one writing process, and nothing is shared between workers:

* `ChannelWriter` (in the worker) pickles a message in the calling thread and queues it; a feeder thread of
  its own writes the queued messages, each one length-prefixed, so `put` never blocks the worker's loop, its
  reader threads or its clip writer (as with a multiprocessing Queue, the backlog waits in the worker's
  memory while the supervisor is slow). There is no lock shared with any other process.
* `ResultChannel` (in the supervisor) holds the pipe's read end and *only* that: the pool closes its copy of
  the write end as soon as the worker has started, so the end of the pipe is the worker's death. Reads never
  block (a worker stopped half-way through a message cannot stall the supervisor): what has arrived is kept
  until its message is complete. At the end of the pipe the channel closes itself; an unfinished message the
  worker died in the middle of is dropped, with a warning.
* `receive` waits on every open channel at once (`multiprocessing.connection.wait`, i.e. poll(2)): no
  busy-polling, and a closed channel is never waited on again.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import pickle
import struct
import threading
import time
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnContext

from sentinel.daemon.messages import WorkerMessage

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("!Q")  # every message: its pickle's length, then the pickle
MAX_MESSAGE = 256 * 1024 * 1024  # a longer one is not a message (a full-resolution JPEG is a few MB)
_READ = 1 << 18  # bytes per read(2) (a pipe holds 64 KiB unless enlarged)
_READS_PER_TURN = 8  # then the next channel: one busy worker cannot keep the others waiting


class ResultChannel:
    """The supervisor's end of one worker's results pipe."""

    def __init__(self, worker: int, reader: Connection) -> None:
        self.worker = worker
        self._conn = reader
        self._fd = reader.fileno()
        os.set_blocking(self._fd, False)
        self._buf = bytearray()
        self._lock = threading.Lock()  # the supervisor's loop and, at shutdown, its drain thread
        self.closed = False
        self.received = 0  # complete messages
        self.discarded = 0  # bytes of an unfinished message dropped when the pipe ended

    def fileno(self) -> int:
        """For `multiprocessing.connection.wait` (and selectors)."""
        return self._fd

    def read(self) -> list[WorkerMessage]:
        """The complete messages that have arrived, without blocking. At the end of the pipe (the worker is
        gone and all it wrote has been read) the channel closes."""
        with self._lock:
            if self.closed:
                return []
            ended = False
            for _ in range(_READS_PER_TURN):
                try:
                    chunk = os.read(self._fd, _READ)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    log.error("worker %d: results channel failed: %s", self.worker, exc)
                    ended = True
                    break
                if not chunk:
                    ended = True
                    break
                self._buf += chunk
                if len(chunk) < _READ:
                    break  # the pipe is empty for now
            messages, corrupt = self._split()
            if ended or corrupt:
                self._close_locked()
            return messages

    def drain(self) -> list[WorkerMessage]:
        """Every complete message left, then close: for a worker that is known to be dead."""
        messages: list[WorkerMessage] = []
        while not self.closed:
            got = self.read()
            messages += got
            if not got and not self._readable():
                break  # not at the end (some other process holds the write end?): close all the same
        self.close()
        return messages

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _readable(self) -> bool:
        with self._lock:
            return not self.closed and self._conn.poll(0)

    def _split(self) -> tuple[list[WorkerMessage], bool]:
        """Cut the complete messages off the front of the buffer; True as well if the stream is corrupt."""
        messages: list[WorkerMessage] = []
        buf, at = self._buf, 0
        while len(buf) - at >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(buf, at)
            if length > MAX_MESSAGE:
                log.error("worker %d: results channel corrupt (a %d-byte message)", self.worker, length)
                del buf[:]
                return messages, True
            end = at + _LENGTH.size + length
            if len(buf) < end:
                break
            try:
                messages.append(pickle.loads(buf[at + _LENGTH.size : end]))
            except Exception:  # one bad message, the next one starts where it ends
                log.exception("worker %d: a message could not be read", self.worker)
            at = end
        del buf[:at]
        self.received += len(messages)
        return messages, False

    def _close_locked(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._buf:
            self.discarded = len(self._buf)
            log.warning(
                "worker %d: its last message was cut off (%d bytes) and is dropped",
                self.worker,
                len(self._buf),
            )
            self._buf = bytearray()
        self._conn.close()


@contextlib.contextmanager
def open_channel(ctx: SpawnContext, worker: int) -> Iterator[tuple[ResultChannel, Connection]]:
    """A new results pipe for worker `worker`: the supervisor's `ResultChannel` and the write end, which
    the block hands to the worker process it starts. When the block ends the write end is closed here: the
    worker's copy is then the only one, and the pipe ends when the worker does."""
    reader, writer = ctx.Pipe(duplex=False)
    channel = ResultChannel(worker, reader)
    try:
        yield channel, writer
    except BaseException:
        channel.close()
        raise
    finally:
        writer.close()


def receive(channels: Sequence[ResultChannel], timeout: float) -> list[WorkerMessage]:
    """What the open channels hold, waiting up to `timeout` seconds for the first of them to have any."""
    open_channels = [c for c in channels if not c.closed]
    if not open_channels:
        time.sleep(timeout)  # nothing to wait on: still the loop's pace
        return []
    by_fd = {c.fileno(): c for c in open_channels}
    messages: list[WorkerMessage] = []
    for fd in wait(list(by_fd), timeout):
        if isinstance(fd, int):
            messages += by_fd[fd].read()
    return messages


class ChannelWriter:
    """A worker's end of its results pipe: `put` from any thread, never blocking; one feeder thread writes."""

    def __init__(self, writer: Connection, name: str = "results-feeder") -> None:
        self._conn = writer
        self._fd = writer.fileno()
        os.set_blocking(self._fd, True)
        self._pending: collections.deque[bytes] = collections.deque()
        self._cond = threading.Condition()
        self._closing = False
        self._broken = False
        self._thread = threading.Thread(target=self._feed, name=name, daemon=True)
        self._thread.start()

    def put(self, obj: WorkerMessage, /) -> None:
        try:
            data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # a bug, not a reason to take the calling thread (a camera's reader) down
            log.exception("cannot send %s to the supervisor", type(obj).__name__)
            return
        if len(data) > MAX_MESSAGE:
            log.error("not sending a %d-byte %s: too large", len(data), type(obj).__name__)
            return
        with self._cond:
            if self._closing or self._broken:
                return
            self._pending.append(_LENGTH.pack(len(data)) + data)
            self._cond.notify()

    def close(self, timeout: float | None = None) -> bool:
        """Write what is queued (waiting up to `timeout`, None: as long as it takes), then close the pipe.
        False if the feeder had not finished in time."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            return False
        self._conn.close()
        return True

    def abandon(self) -> None:
        """Nobody reads any more: drop what is queued and do not wait for the feeder (it may be blocked
        writing to a full pipe; it is a daemon thread, the process may exit)."""
        with self._cond:
            self._closing = True
            self._pending.clear()
            self._cond.notify()

    def _feed(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    return
                frame = self._pending.popleft()
            try:
                _write_all(self._fd, frame)
            except OSError as exc:  # EPIPE: the supervisor is gone or closed its end
                with self._cond:
                    self._broken = True
                    self._pending.clear()
                if not self._closing:
                    log.error("results channel closed by the supervisor: %s", exc)
                return


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
