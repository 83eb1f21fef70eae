"""Where a NUL character hides in decoded JSON: PostgreSQL can store none, in no text column.

Used by the webhook (``app.alerts.schemas``) and by every other route (``app.http.nul``).
"""

from __future__ import annotations

JSON_NUL = b"\\u0000"  # the only way JSON text can carry a NUL: search the bytes first


def nul_at(data: object) -> tuple[str, str] | None:
    """The path of the first string or key holding a NUL, and which it is; else None.

    Iterative: JSON may nest deeper than Python's recursion limit.
    """
    stack: list[tuple[str, object]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return path, "holds"
        elif isinstance(value, dict):
            if any("\x00" in key for key in value):
                return path, "has a name that holds"
            stack.extend((f"{path}.{k}" if path else k, v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((f"{path}.{i}", v) for i, v in reversed(list(enumerate(value))))
    return None
