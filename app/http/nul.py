"""``refuse_nul``: one app-wide dependency that answers 422 for a NUL in any user-supplied text.

PostgreSQL can neither store a NUL nor compare a column with one, SQLite can: a NUL in a filter
answered 503 "transient" on PostgreSQL and 200 on SQLite, and a note holding one was stored,
then stopped the post-mortem draft. So every route checks its path and query parameters and,
for a write, its form fields or JSON body, before any handler runs; the webhook (served in front
of FastAPI) checks its own body the same way.

FastAPI has already read a JSON body or parsed a form before the dependencies run, and
Starlette caches both, so reading them again here costs a search, not a second read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from fastapi import Request
from starlette.datastructures import UploadFile

from app.errors import PayloadError
from app.nul import JSON_NUL, nul_at

HINT = "remove the NUL character: no text the service stores or searches may hold one"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def _refusal(where: str, name: str, what: str, shown_as: str) -> PayloadError:
    name = name.replace("\x00", shown_as)
    return PayloadError(
        f"{where} '{name}': {what} a NUL character ({shown_as}), which no text may hold",
        hint=HINT,
    )


def _check_pairs(where: str, pairs: Iterable[tuple[str, object]]) -> None:
    for name, value in pairs:
        if "\x00" in name:
            raise _refusal(where, name, "has a name that holds", "%00")
        if isinstance(value, str) and "\x00" in value:
            raise _refusal(where, name, "holds", "%00")


async def _check_body(request: Request) -> None:
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith(_FORMS):
        form = await request.form()  # parsed once: FastAPI's own call is cached
        pairs = [(k, v) for k, v in form.multi_items() if not isinstance(v, UploadFile)]
        _check_pairs("form field", pairs)
        return
    body = await request.body()
    if JSON_NUL not in body:
        return
    try:
        data = json.loads(body)
    except ValueError:
        return  # not JSON: the route's own parsing answers for it
    found = nul_at(data)
    if found is not None:
        path, what = found
        raise _refusal("field", path or "(body)", what, "\\u0000")


async def refuse_nul(request: Request) -> None:
    """Raise ``PayloadError`` (422) naming the first parameter or field that holds a NUL."""
    _check_pairs("path parameter", request.path_params.items())
    _check_pairs("query parameter", request.query_params.multi_items())
    if request.method not in _SAFE:
        await _check_body(request)
