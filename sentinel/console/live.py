"""In-process broadcaster for the console's live updates (server-sent events).

`LiveFeed.publish(kind, data)` may be called from any thread (the supervisor's loop, the case engine's timers,
an MQTT callback). Each SSE client holds a `Subscription`: a bounded asyncio queue on the server's event loop;
a client too slow to keep up loses its oldest events (counted in `dropped`), never blocks the publisher.
A short history lets a reconnecting browser catch up from its `Last-Event-ID`.

Kinds used: `alert` (a new alert, its `sentinel.alert/1` JSON), `alert_review` (an alert confirmed or
rejected), `case` (a case after a change, its `sentinel.case/1` JSON), `camera` (a camera's status).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveEvent:
    id: int
    kind: str
    json: str  # the data, serialised once for every subscriber
    ts: float

    def data(self) -> Any:
        return json.loads(self.json)

    def sse(self) -> str:
        return f"id: {self.id}\nevent: {self.kind}\ndata: {self.json}\n\n"


class FeedClosed(Exception):
    pass


class Subscription:
    def __init__(self, feed: LiveFeed, loop: asyncio.AbstractEventLoop, maxsize: int) -> None:
        self._feed = feed
        self._loop = loop
        self._queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(maxsize)
        self.dropped = 0

    def _offer(self, event: LiveEvent | None) -> None:
        """Runs on the subscriber's loop: a full queue gives up its oldest event."""
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    def _post(self, event: LiveEvent | None) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._offer, event)
            return True
        except RuntimeError:  # the loop is closed: the client is gone
            return False

    async def get(self, timeout: float) -> LiveEvent | None:
        """The next event, or None after `timeout` seconds; FeedClosed once the feed shuts down."""
        try:
            event = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        if event is None:
            raise FeedClosed()
        return event

    def close(self) -> None:
        self._feed.unsubscribe(self)


class LiveFeed:
    def __init__(self, queue_size: int = 256, history: int = 200) -> None:
        self.queue_size = queue_size
        self._lock = threading.Lock()
        self._subscribers: list[Subscription] = []
        self._history: deque[LiveEvent] = deque(maxlen=history)
        self._next_id = 1
        self.closed = False

    def publish(self, kind: str, data: dict[str, Any]) -> LiveEvent:
        """Send an event to every subscriber (thread-safe, never blocks, never raises on odd values)."""
        text = json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))
        with self._lock:
            event = LiveEvent(self._next_id, kind, text, time.time())
            self._next_id += 1
            self._history.append(event)
            dead = [sub for sub in self._subscribers if not sub._post(event)]
            for sub in dead:
                self._subscribers.remove(sub)
        return event

    def subscribe(self, last_event_id: int | None = None) -> Subscription:
        """A subscription on the running event loop; with `last_event_id`, the events after it come first."""
        sub = Subscription(self, asyncio.get_running_loop(), self.queue_size)
        with self._lock:
            if self.closed:
                sub._offer(None)
                return sub
            if last_event_id is not None:
                for event in self._history:
                    if event.id > last_event_id:
                        sub._offer(event)
            self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    @property
    def last_id(self) -> int:
        with self._lock:
            return self._next_id - 1

    def close(self) -> None:
        """End every open stream (on shutdown); later subscribers get a stream that ends at once."""
        with self._lock:
            self.closed = True
            subs, self._subscribers = self._subscribers, []
        for sub in subs:
            sub._post(None)
