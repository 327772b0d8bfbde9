"""What the dashboard serves, computed once per leaderboard revision instead of once per request.

A sync (any write to the leaderboard database) raises the store's revision; the next request after it
computes afresh, and every request until then gets the same bytes. What MLflow adds (searches and their
trials, which change while a search runs, without a sync) is refreshed after `max_age_s`: the first
request after that recomputes while the others are still served the previous answer. One computation
at a time per key: twenty clients asking at once after a sync wait for one rendering, not twenty.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

DEFAULT_MAX_AGE_S = 30.0  # how stale MLflow's part of the page may get between syncs
DEFAULT_CAPACITY = 128  # answers kept (least recently used go first); limit and offset make many keys


@dataclass(frozen=True)
class Answer:
    """A computed response body and its media type."""

    body: bytes
    mimetype: str


@dataclass(frozen=True)
class _Entry:
    revision: int
    made: float  # time.monotonic() when computed
    answer: Answer


class AnswerCache:
    """Answers keyed by request, valid for one leaderboard revision and at most `max_age_s` seconds."""

    def __init__(self, *, max_age_s: float = DEFAULT_MAX_AGE_S, capacity: int = DEFAULT_CAPACITY) -> None:
        self.max_age_s = max_age_s
        self.capacity = capacity
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._computing: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, revision: int, compute: Callable[[], Answer]) -> Answer:
        """The answer for `key` at `revision`, computed by `compute` when none is kept or it is too old."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.revision == revision:
                self._entries.move_to_end(key)
                if time.monotonic() - entry.made < self.max_age_s:
                    return entry.answer
            computing = self._computing.setdefault(key, threading.Lock())
        if entry is not None and entry.revision == revision:
            if not computing.acquire(blocking=False):
                return entry.answer  # only old, and another request is refreshing it: this revision's answer still
        else:
            computing.acquire()  # a new revision (or nothing kept): wait for whoever computes it, then look again
        try:
            with self._lock:
                entry = self._entries.get(key)
            if entry is not None and entry.revision == revision and time.monotonic() - entry.made < self.max_age_s:
                return entry.answer
            answer = compute()  # errors (a bad query, a database gone) propagate and are not kept
            with self._lock:
                self._entries[key] = _Entry(revision, time.monotonic(), answer)
                self._entries.move_to_end(key)
                while len(self._entries) > self.capacity:
                    self._entries.popitem(last=False)
            return answer
        finally:
            computing.release()
            with self._lock:
                if not computing.locked() and self._computing.get(key) is computing:
                    del self._computing[key]
