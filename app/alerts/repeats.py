"""The cheap path for byte-identical repeats.

Alertmanager resends the same notification every ``repeat_interval`` and on retries, and an
HA pair sends each one twice. A body already stored once cannot change anything when stored
again (occurrences are idempotent and repeats never reopen), so its answer is remembered by
the SHA-256 of the body and served without parsing or touching the database.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Remembered:
    """What a stored body amounted to: enough to answer and log a repeat of it."""

    alerts: int
    incident_ids: list[int]
    receiver: str
    group_key: str
    status: str


class RepeatCache:
    """A bounded, time-limited map from body digest to the incident ids it concerned."""

    def __init__(self, *, size: int = 8192, ttl: timedelta = timedelta(hours=6)) -> None:
        self._size = size
        self._ttl = ttl
        self._items: OrderedDict[bytes, tuple[datetime, Remembered]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def digest(body: bytes) -> bytes:
        return hashlib.sha256(body).digest()

    def get(self, key: bytes, *, now: datetime) -> Remembered | None:
        """What this body amounted to, if it was stored recently."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            stored_at, remembered = item
            if now - stored_at > self._ttl:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return remembered

    def put(self, key: bytes, remembered: Remembered, *, now: datetime) -> None:
        with self._lock:
            self._items[key] = (now, remembered)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class SeenOccurrences:
    """Occurrences (fingerprint, starts_at, status) this process stored recently.

    A payload with an occurrence not in here is most likely new, so ingest goes straight to
    the write transaction instead of first checking for a pure repeat: one read fewer on the
    path that matters most in a storm. Only a hint: the transaction decides.
    """

    def __init__(self, *, size: int = 200_000) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, datetime, str], None] = OrderedDict()
        self._lock = threading.Lock()

    def all_known(self, keys: list[tuple[str, datetime, str]]) -> bool:
        with self._lock:
            return all(key in self._items for key in keys)

    def add(self, keys: list[tuple[str, datetime, str]]) -> None:
        with self._lock:
            for key in keys:
                self._items[key] = None
                self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
