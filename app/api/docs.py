"""``/docs``: Swagger UI from local files, and the security schemes of ``/openapi.json``.

FastAPI's own page loads Swagger UI from a CDN and starts it with an inline script, both of
which the app's Content-Security-Policy (``script-src 'self'``) blocks: a blank page. Here the
Swagger UI files come from the ``fastapi-offline`` package and a small script file starts
it, so the page needs nothing but this origin. The OpenAPI document declares the two ways in
(a Bearer token; the session cookie, with ``X-CSRF-Token`` on writes) on each operation.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from app.http.csrf import SAFE_METHODS

HERE = Path(__file__).parent / "docs_assets"
SWAGGER_UI = Path(str(files("fastapi_offline") / "static"))

BEARER: dict[str, list[str]] = {"bearerToken": []}

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def docs() -> HTMLResponse:
    return HTMLResponse((HERE / "docs.html").read_text())


def _session(method: str) -> dict[str, list[str]]:
    """The cookie, and on a write the CSRF header too (both at once: one requirement)."""
    csrf: dict[str, list[str]] = {} if method.upper() in SAFE_METHODS else {"csrfHeader": []}
    return {"sessionCookie": [], **csrf}


def openapi_schema(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, each operation requiring a Bearer token *or* the session.

    FastAPI lists every security dependency as an alternative (bearer, cookie, CSRF header);
    the cookie goes with the header on writes, so those two become one requirement.
    """
    schema = FastAPI.openapi(app)  # built once and cached by FastAPI; the edits are idempotent
    for path in schema["paths"].values():
        for method, operation in path.items():
            names = {name for needed in operation.get("security", []) for name in needed}
            if "sessionCookie" in names:
                operation["security"] = [BEARER, _session(method)]
    return schema


def install(app: FastAPI) -> None:
    """Serve /docs and its files; build /openapi.json with the security schemes."""
    app.include_router(router)
    app.mount("/docs/assets", StaticFiles(directory=SWAGGER_UI), name="docs-assets")
    app.mount("/docs/app", StaticFiles(directory=HERE), name="docs-app")
    app.openapi = lambda: openapi_schema(app)  # type: ignore[method-assign]
