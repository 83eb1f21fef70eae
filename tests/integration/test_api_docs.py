"""``/docs`` works offline under the app's own Content-Security-Policy; the OpenAPI document
declares both ways to authenticate and the error answers each route really gives.

The browser check (Swagger UI renders the operations) is ``tests/e2e/test_api_docs_browser.py``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from httpx import AsyncClient

pytestmark = pytest.mark.anyio

ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}
ASSET = re.compile(r'<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"')


def csp_of(headers: Any) -> dict[str, list[str]]:
    return {
        parts[0]: parts[1:]
        for parts in (d.split() for d in headers["content-security-policy"].split(";"))
        if parts
    }


async def test_docs_page_loads_only_local_assets_its_csp_allows(client: AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assets = ASSET.findall(page.text)
    assert assets, page.text
    inline = re.findall(r"<script\b[^>]*>\s*[^<\s]", page.text)
    assert inline == [], "inline script: the CSP would block it"
    assert " style=" not in page.text
    csp = csp_of(page.headers)
    script, style = csp.get("script-src", csp["default-src"]), csp.get("style-src", [])
    for directives in (script, style):
        assert "'unsafe-inline'" not in directives
        assert "'unsafe-eval'" not in directives
    kinds = set()
    for asset in assets:
        assert asset.startswith("/"), asset  # same origin
        assert not asset.startswith("//"), asset
        answer = await client.get(asset)
        assert answer.status_code == 200, asset
        kind = answer.headers["content-type"].split(";")[0]
        kinds.add(kind)
        allowed = script if kind.endswith("javascript") else style
        assert "'self'" in allowed, (asset, allowed)
    assert {"text/javascript", "text/css"} <= kinds
    spec = page.text.split('data-openapi-url="')[1].split('"')[0]
    assert (await client.get(spec)).status_code == 200


async def test_no_page_points_at_a_cdn(client: AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        answer = await client.get(path)
        assert "cdn." not in answer.text, path
        assert "https://" not in answer.text, path


async def test_openapi_declares_bearer_and_session_with_csrf(client: AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerToken"] == {**schemes["bearerToken"], "type": "http", "scheme": "bearer"}
    assert {k: schemes["sessionCookie"][k] for k in ("type", "in", "name")} == {
        "type": "apiKey",
        "in": "cookie",
        "name": "rr_session",
    }
    assert {k: schemes["csrfHeader"][k] for k in ("type", "in", "name")} == {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRF-Token",
    }
    paths = spec["paths"]
    write = paths["/api/v1/incidents/{incident_id}/ack"]["post"]["security"]
    assert write == [{"bearerToken": []}, {"sessionCookie": [], "csrfHeader": []}]
    read = paths["/api/v1/incidents"]["get"]["security"]
    assert read == [{"bearerToken": []}, {"sessionCookie": []}]
    assert paths["/api/v1/webhooks/alertmanager"]["post"]["security"] == [{"bearerToken": []}]
    assert "security" not in paths["/healthz"]["get"]


def error_statuses(operation: dict[str, Any]) -> set[int]:
    found = set()
    for status, response in operation["responses"].items():
        if int(status) >= 400:
            assert response["content"]["application/json"]["schema"] == ERROR_BODY, status
            found.add(int(status))
    return found


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("post", "/api/v1/webhooks/alertmanager", {401, 413, 422, 503}),
        ("get", "/api/v1/incidents", {401, 403, 422, 503}),
        ("get", "/api/v1/incidents/{incident_id}", {401, 403, 404, 422, 503}),
        ("post", "/api/v1/incidents/{incident_id}/ack", {401, 403, 404, 409, 422, 503}),
        ("post", "/api/v1/incidents/{incident_id}/resolve", {401, 403, 404, 409, 422, 503}),
        ("post", "/api/v1/incidents/{incident_id}/steps/{step_id}", {401, 403, 404, 422, 503}),
        ("patch", "/api/v1/postmortems/{postmortem_id}", {401, 403, 404, 409, 422, 503}),
        ("get", "/api/v1/kpis", {401, 403, 422, 503}),
        ("get", "/api/v1/me", {401, 503}),
    ],
)
async def test_openapi_documents_the_real_error_answers(
    client: AsyncClient, method: str, path: str, statuses: set[int]
) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert statuses <= error_statuses(spec["paths"][path][method])
    error = spec["components"]["schemas"]["ErrorBody"]
    detail = spec["components"]["schemas"]["ErrorDetail"]
    assert error["required"] == ["error"]
    assert {"code", "message", "hint"} <= set(detail["required"])
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # not what 422 sends
