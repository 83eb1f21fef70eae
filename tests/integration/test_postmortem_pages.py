"""The post-mortem pages and their forms, and the recurrence banner on the incident page.

Signed in with a session cookie, as people are: forms need the session's CSRF token, and
the same role and team rules as the API apply to them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from markupsafe import escape

from tests.conftest import FakeClock
from tests.integration.escalation.support import end, fire, run
from tests.integration.test_postmortem_roles import World, api, make_world
from tests.integration.test_roles import HTML, assert_security_headers, page_csrf, sign_in

pytestmark = pytest.mark.anyio

EDITORS = ("pat-platform", "ada-admin")
READERS = ("vera-viewer", "dora-documents")  # a viewer; a responder of another team


@pytest.fixture
async def world(app: FastAPI, client: AsyncClient, clock: FakeClock) -> World:
    return await make_world(app, client, clock)


async def page(client: AsyncClient, path: str, status: int = 200) -> Response:
    answer = await client.get(path, headers=HTML)
    assert answer.status_code == status, answer.text
    assert_security_headers(answer)
    return answer


async def post(client: AsyncClient, path: str, fields: dict[str, str], csrf_from: str) -> Response:
    """A form post with the CSRF token of the page it is on."""
    data = {"csrf_token": await page_csrf(client, csrf_from), **fields}
    return await client.post(path, data=data, headers=HTML)


async def pm_of(client: AsyncClient, postmortem_id: int) -> dict[str, Any]:
    data: dict[str, Any] = await api(client, "GET", f"/api/v1/postmortems/{postmortem_id}")
    return data


@pytest.mark.parametrize("who", EDITORS + READERS)
async def test_list_and_post_mortem_pages_render_for_each_caller(
    client: AsyncClient, world: World, who: str
) -> None:
    await sign_in(client, world.tokens[who])
    pm_id = world.workflow.postmortem
    listing = (await page(client, "/postmortems")).text
    assert '<a href="/postmortems">Post-mortems</a>' in listing  # the nav
    assert f'href="/postmortems/{pm_id}"' in listing
    assert f'href="/postmortems/{world.generic.postmortem}"' in listing
    assert "Post-mortem: Workflow500 on workflow-api" in listing

    shown = (await page(client, f"/postmortems/{pm_id}")).text
    assert "<h1>Post-mortem: Workflow500 on workflow-api</h1>" in shown
    assert f'href="/incidents/{world.workflow.incident}"' in shown
    article = shown.split('<article class="runbook postmortem-body">')[1].split("</article>")[0]
    assert "<table>" in article  # the Markdown body rendered to HTML (its facts table)
    assert "| Incident |" not in article
    assert "<td>Write the runbook step</td>" in shown
    assert '<time datetime="2026-12-01">2026-12-01</time>' in shown
    assert "overdue" not in shown.split("<td>Write the runbook step</td>")[1].split("</tr>")[0]
    forms = ("/edit", "/status", "/action-items", f"/action-items/{world.workflow.item}/status")
    if who in EDITORS:
        assert all(f in shown for f in forms)
        assert "editing it needs a responder" not in shown
    else:
        assert 'method="post" action="/postmortems' not in shown
        assert 'action="/action-items' not in shown
        assert "editing it needs a responder of team platform" in shown
    generic = (await page(client, f"/postmortems/{world.generic.postmortem}")).text
    assert (f'action="/postmortems/{world.generic.postmortem}/edit"' in generic) is (
        who != "vera-viewer"  # a runbook with no team: any responder may edit
    )


async def test_the_list_filters_by_status_and_class(client: AsyncClient, world: World) -> None:
    await sign_in(client, world.tokens["vera-viewer"])
    workflow, generic = (
        f"/postmortems/{world.workflow.postmortem}",
        (f"/postmortems/{world.generic.postmortem}"),
    )
    everything = (await page(client, "/postmortems?status=&class=")).text
    assert workflow in everything
    assert generic in everything
    by_class = (await page(client, "/postmortems?class=generic")).text
    assert generic in by_class
    assert f'href="{workflow}"' not in by_class
    drafts = (await page(client, "/postmortems?status=draft")).text
    assert workflow in drafts
    published = (await page(client, "/postmortems?status=published")).text
    assert workflow not in published
    assert "None matching these filters" in published


async def test_an_editor_edits_reviews_and_tracks_items_through_the_forms(
    client: AsyncClient, world: World, clock: FakeClock
) -> None:
    await sign_in(client, world.tokens["pat-platform"])
    pm_id, here = world.workflow.postmortem, f"/postmortems/{world.workflow.postmortem}"
    edited = {"title": "Checkout 500s", "body": "# What happened\n\nA bad *release*."}
    answer = await post(client, f"{here}/edit", edited, here)
    assert (answer.status_code, answer.headers["location"]) == (303, here), answer.text
    pm = await pm_of(client, pm_id)
    assert (pm["title"], pm["body"], pm["updated_by"]) == (
        edited["title"],
        edited["body"],
        "pat-platform",
    )
    assert "<h1>What happened</h1>" in (await page(client, here)).text

    due = str(clock().date() - timedelta(days=1))
    new = {"title": "Canary deploys", "owner": "cy", "due_date": due}
    assert (await post(client, f"{here}/action-items", new, here)).status_code == 303
    added = (await pm_of(client, pm_id))["action_items"][-1]
    assert (added["title"], added["owner"], added["created_by"], added["overdue"]) == (
        "Canary deploys",
        "cy",
        "pat-platform",
        True,
    )
    row = (await page(client, here)).text.split("<td>Canary deploys</td>")[1].split("</tr>")[0]
    assert 'class="overdue">overdue' in row
    done = await post(client, f"/action-items/{added['id']}/status", {"status": "done"}, here)
    assert (done.status_code, done.headers["location"]) == (303, here)
    assert [i["status"] for i in (await pm_of(client, pm_id))["action_items"]] == ["open", "done"]
    await post(client, f"/action-items/{added['id']}/status", {"status": "open"}, here)
    assert (await pm_of(client, pm_id))["action_items"][1]["done_at"] is None

    for status in ("in_review", "published"):
        moved = await post(client, f"{here}/status", {"status": status}, here)
        assert (moved.status_code, moved.headers["location"]) == (303, here)
    assert (await pm_of(client, pm_id))["status"] == "published"
    shown = (await page(client, here)).text
    assert "Reopen for review" in shown
    assert f'action="{here}/edit"' not in shown


@pytest.mark.parametrize(
    ("reached", "target", "says"),
    [  # a page left open while someone else moved the post-mortem on
        pytest.param([], "published", "cannot go from draft to published", id="skip-review"),
        pytest.param(
            ["in_review", "published"],
            "draft",
            "cannot go from published to draft",
            id="skip-back",
        ),
    ],
)
async def test_a_step_the_review_flow_refuses_is_a_readable_409_page(
    client: AsyncClient, world: World, reached: list[str], target: str, says: str
) -> None:
    here = f"/postmortems/{world.workflow.postmortem}"
    for status in reached:
        await api(client, "PATCH", f"/api/v1{here}", json={"status": status})
    await sign_in(client, world.tokens["pat-platform"])
    before = await pm_of(client, world.workflow.postmortem)
    answer = await post(client, f"{here}/status", {"status": target}, here)
    assert answer.status_code == 409
    assert answer.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in answer.text
    assert says in answer.text
    assert f"from {before['status']} it can go to: in_review" in answer.text  # what is allowed
    assert "<h1>Post-mortem: Workflow500 on workflow-api</h1>" in answer.text  # the page itself
    assert await pm_of(client, world.workflow.postmortem) == before


async def test_editing_a_published_post_mortem_is_a_readable_409(
    client: AsyncClient, world: World
) -> None:
    await sign_in(client, world.tokens["ada-admin"])
    here = f"/postmortems/{world.workflow.postmortem}"
    for status in ("in_review", "published"):
        await api(client, "PATCH", f"/api/v1{here}", json={"status": status})
    answer = await post(client, f"{here}/edit", {"title": "Rewritten", "body": "x"}, here)
    assert answer.status_code == 409
    assert "a published post-mortem is read-only" in answer.text
    assert "set status to in_review to edit it" in answer.text
    assert (await pm_of(client, world.workflow.postmortem))["title"] != "Rewritten"


def form_posts(world: World) -> dict[str, tuple[str, dict[str, str]]]:
    here = f"/postmortems/{world.workflow.postmortem}"
    return {
        "edit": (f"{here}/edit", {"title": "Forged", "body": "forged"}),
        "status": (f"{here}/status", {"status": "in_review"}),
        "add-item": (
            f"{here}/action-items",
            {"title": "Forged", "owner": "x", "due_date": "2026-12-01"},
        ),
        "mark-item": (f"/action-items/{world.workflow.item}/status", {"status": "done"}),
    }


@pytest.mark.parametrize("csrf", [None, "", "forged-value"], ids=["missing", "empty", "wrong"])
@pytest.mark.parametrize("form", ["edit", "status", "add-item", "mark-item"])
async def test_form_posts_without_the_session_csrf_token_change_nothing(
    client: AsyncClient, world: World, form: str, csrf: str | None
) -> None:
    await sign_in(client, world.tokens["pat-platform"])
    await page_csrf(client, f"/postmortems/{world.workflow.postmortem}")  # a token exists
    before = await pm_of(client, world.workflow.postmortem)
    path, fields = form_posts(world)[form]
    data = fields | ({} if csrf is None else {"csrf_token": csrf})
    answer = await client.post(path, data=data, headers=HTML)
    assert answer.status_code == 403
    assert "CSRF" in answer.text
    assert await pm_of(client, world.workflow.postmortem) == before


@pytest.mark.parametrize(
    ("who", "says"),
    [  # the 403 page's message, HTML-escaped
        pytest.param("vera-viewer", "responder role", id="viewer"),
        pytest.param("dora-documents", "team &#39;platform&#39;", id="responder-other-team"),
    ],
)
@pytest.mark.parametrize("form", ["edit", "status", "add-item", "mark-item"])
async def test_form_posts_by_someone_who_may_not_edit_are_refused(
    client: AsyncClient, world: World, form: str, who: str, says: str
) -> None:
    await sign_in(client, world.tokens[who])
    before = await pm_of(client, world.workflow.postmortem)
    path, fields = form_posts(world)[form]
    answer = await post(client, path, fields, "/postmortems")  # a valid token, still refused
    assert answer.status_code == 403
    assert says in answer.text
    assert await pm_of(client, world.workflow.postmortem) == before


async def test_markdown_body_and_title_are_escaped(client: AsyncClient, world: World) -> None:
    await sign_in(client, world.tokens["pat-platform"])
    here = f"/postmortems/{world.workflow.postmortem}"
    body = (
        "# Notes\n\n<script>alert('body')</script>\n\n"
        '<img src=x onerror="alert(1)">\n\n[click](javascript:alert(2))\n'
    )
    fields = {"title": "<b>bold</b> title", "body": body}
    assert (await post(client, f"{here}/edit", fields, here)).status_code == 303
    shown = (await page(client, here)).text  # asserts no "<script" anywhere in the page
    article = shown.split('<article class="runbook postmortem-body">')[1].split("</article>")[0]
    assert "<p>&lt;script&gt;alert('body')&lt;/script&gt;</p>" in article
    assert "<img" not in article
    assert "href=" not in article  # the javascript: link stays text
    assert "<b>bold</b>" not in shown
    assert "&lt;b&gt;bold&lt;/b&gt; title" in shown
    # The edit form shows the source as text, escaped too.
    assert str(escape(body)) in shown.split("</textarea>")[0]


async def test_a_recurrence_page_shows_its_predecessors_open_action_items(
    app: FastAPI, client: AsyncClient, clock: FakeClock, world: World
) -> None:
    t0 = clock.now
    first = await fire(client, "r", t0)
    await end(client, "r", t0, t0 + timedelta(minutes=5))
    await run(app, clock.now)
    pm = await api(client, "GET", f"/api/v1/incidents/{first}/postmortem")
    url = f"/api/v1/postmortems/{pm['id']}/action-items"
    due = str(t0.date() - timedelta(days=1))
    item = {"title": "Fix retry storm", "owner": "ana", "due_date": due}
    kept = await api(client, "POST", url, 201, json=item)
    item = {"title": "Update the docs", "owner": "bo", "due_date": due}
    closed = await api(client, "POST", url, 201, json=item)
    await api(client, "PATCH", f"/api/v1/action-items/{closed['id']}", json={"status": "done"})
    clock.now = t0 + timedelta(hours=2)  # past the flap window, within the recurrence window
    second = await fire(client, "r", clock.now)
    assert second != first

    await sign_in(client, world.tokens["vera-viewer"])
    shown = (await page(client, f"/incidents/{second}")).text
    banner = shown.split('<section class="banner recurrence"')[1].split("</section>")[0]
    assert shown.index("banner recurrence") < shown.index("<h1>")  # at the top
    assert "Fix retry storm" in banner
    assert "ana" in banner
    assert "overdue" in banner
    assert f'href="/postmortems/{pm["id"]}"' in banner
    assert f"#{first}" in banner
    assert "Update the docs" not in shown
    predecessor = (await page(client, f"/incidents/{first}")).text
    assert "banner recurrence" not in predecessor
    assert f'<a href="/postmortems/{pm["id"]}">' in predecessor  # its post-mortem link
    assert "/postmortems/" not in shown.split("<dl")[1].split("</dl>")[0]  # none for #2 yet

    await api(client, "PATCH", f"/api/v1/action-items/{kept['id']}", json={"status": "done"})
    assert "banner recurrence" not in (await page(client, f"/incidents/{second}")).text
