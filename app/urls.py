"""Links to our own pages, built in one place so every surface carries the same link.

The API's ``runbook_url``, the incident and runbook pages and every notification (webhook
JSON, Slack text, e-mail) take their links from here. Each path segment is percent-encoded
whole (a runbook class is a file name: it may hold spaces, ``#``, ``?`` or non-ASCII) and
query values are form-encoded (labels are untrusted: ``&``, ``#``, ``|`` and ``>`` must not
end the value, the URL or a Slack link). ``public_url`` is ``Settings.base_url``; an empty
one gives a path from the site root.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, urlencode


def _url(public_url: str, *segments: str | int, query: Mapping[str, str] | None = None) -> str:
    path = "/".join(quote(str(segment), safe="") for segment in segments)
    url = f"{public_url.rstrip('/')}/{path}"
    return f"{url}?{urlencode(sorted(query.items()))}" if query else url


def incident_url(public_url: str, incident_id: int) -> str:
    """The incident's page, where it is acknowledged and resolved."""
    return _url(public_url, "incidents", incident_id)


def runbook_url(
    public_url: str, runbook_class: str, labels: Mapping[str, str] | None = None
) -> str:
    """The runbook of ``runbook_class`` rendered for ``labels`` (sorted, so one link each)."""
    return _url(public_url, "runbooks", runbook_class, query=labels)


def postmortem_url(public_url: str, postmortem_id: int) -> str:
    """A post-mortem's page."""
    return _url(public_url, "postmortems", postmortem_id)


def postmortems_url(public_url: str, query: Mapping[str, str] | None = None) -> str:
    """The post-mortem list, filtered and paged by ``query``."""
    return _url(public_url, "postmortems", query=query)
