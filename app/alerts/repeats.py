"""The cheap path for byte-identical repeats, and a hint for likely-new occurrences.

Alertmanager resends the same notification every ``repeat_interval`` and on retries, and an
HA pair sends each one twice. A body already stored once cannot change anything when stored
again (occurrences are idempotent and repeats never reopen), so its answer is remembered by
the SHA-256 of the body and served without parsing or touching the database.

Both maps hold only strings, bytes, numbers and tuples of them, which the garbage collector
does not track: a map of 200,000 entries of small objects made each full collection walk
them, stalling every request in flight for tens of milliseconds (the webhook's p99).
"""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timedelta
from itertools import islice
from typing import Generic, NamedTuple, TypeVar


class Remembered(NamedTuple):
    """What a stored body amounted to: enough to answer and log a repeat of it."""

    alerts: int
    incident_ids: tuple[int, ...]
    receiver: str
    group_key: str
    status: str


K = TypeVar("K")
V = TypeVar("V")


class _Recent(Generic[K, V]):
    """Insertion-ordered and bounded: the oldest half goes when ``size`` is exceeded."""

    def __init__(self, size: int) -> None:
        self._size = size
        self.items: dict[K, V] = {}

    def put(self, key: K, value: V) -> None:
        items = self.items
        items.pop(key, None)  # re-inserted last: recently used
        items[key] = value
        if len(items) > self._size:  # amortised O(1): one copy per size/2 insertions
            self.items = dict(islice(items.items(), len(items) // 2, None))


class RepeatCache:
    """A bounded, time-limited map from body digest to what that body amounted to."""

    def __init__(self, *, size: int = 8192, ttl: timedelta = timedelta(hours=6)) -> None:
        self._ttl = ttl.total_seconds()
        self._recent: _Recent[bytes, tuple[float, Remembered]] = _Recent(size)
        self._lock = threading.Lock()

    @staticmethod
    def digest(body: bytes) -> bytes:
        return hashlib.sha256(body).digest()

    def get(self, key: bytes, *, now: datetime) -> Remembered | None:
        """What this body amounted to, if it was stored recently."""
        with self._lock:
            item = self._recent.items.get(key)
            if item is None:
                return None
            stored_at, remembered = item
            if now.timestamp() - stored_at > self._ttl:
                del self._recent.items[key]
                return None
            return remembered

    def put(self, key: bytes, remembered: Remembered, *, now: datetime) -> None:
        with self._lock:
            self._recent.put(key, (now.timestamp(), remembered))

    def clear(self) -> None:
        with self._lock:
            self._recent.items.clear()


def occurrence_key(fingerprint: str, starts_at: datetime, status: str) -> int:
    """A hash of the occurrence: a collision only sends a new payload down the repeat path,
    whose database read then finds it new."""
    return hash((fingerprint, starts_at, status))


class SeenOccurrences:
    """Occurrences (fingerprint, starts_at, status) this process stored recently.

    A payload with an occurrence not in here is most likely new, so ingest goes straight to
    the write transaction instead of first checking for a pure repeat: one read fewer on the
    path that matters most in a storm. Only a hint: the transaction decides.
    """

    def __init__(self, *, size: int = 200_000) -> None:
        self._recent: _Recent[int, None] = _Recent(size)
        self._lock = threading.Lock()

    def all_known(self, keys: list[int]) -> bool:
        items = self._recent.items
        return all(key in items for key in keys)

    def add(self, keys: list[int]) -> None:
        with self._lock:
            for key in keys:
                self._recent.put(key, None)
