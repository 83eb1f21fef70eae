"""Untrusted text made safe for one line: log lines, e-mail headers, stored failure reasons.

``LINE_BREAKING`` matches every control character (C0, DEL, C1) and the Unicode line and
paragraph separators: everything ``str.splitlines()`` breaks on (``\\n``, ``\\r``, ``\\x0b``,
``\\x0c``, ``\\x1c``-``\\x1e``, ``\\x85``, U+2028, U+2029) and more.
"""

from __future__ import annotations

import re

LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_RUNS = re.compile(f"{LINE_BREAKING.pattern}+")


def one_line(text: str) -> str:
    """``text`` with each run of control characters or line separators as one space."""
    return _RUNS.sub(" ", text).strip()


def storable(text: str, *, limit: int) -> str:
    """Text from a remote peer (a response body, an SMTP reply, an exception message) fit
    for a text column: one line, no NUL (PostgreSQL refuses it), no lone surrogate (not
    encodable as UTF-8), at most ``limit`` characters."""
    cleaned = one_line(text.encode("utf-8", "replace").decode("utf-8"))
    return cleaned[:limit]
