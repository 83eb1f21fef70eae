"""The benchmark's request bodies: realistic Alertmanager v4 webhooks, byte-identical to
``ingest.lua`` (wrk builds the same bodies; ``expected_body`` checks it on every resend)."""

from __future__ import annotations

import re

SCENARIOS = ("new", "repeat", "mix")
GROUP_EVERY = 10  # requests per groupKey: one incident opened, then extended nine times

SERVICES = (
    (
        "Workflow500",
        "workflow-api",
        "critical",
        "workflow-api returns HTTP 500",
        "https://runbooks.example.com/workflow-api/workflow500",
    ),
    (
        "QueueBacklog",
        "queue-worker",
        "warning",
        "queue-worker backlog keeps growing",
        "https://runbooks.example.com/queue-worker/backlog",
    ),
    (
        "PdfNotFound",
        "pdf-renderer",
        "warning",
        "pdf-renderer answers 404 for stored documents",
        "https://runbooks.example.com/pdf-renderer/not-found",
    ),
    (
        "StoragePermissionDenied",
        "storage-gateway",
        "critical",
        "storage-gateway is denied access to its bucket",
        "https://runbooks.example.com/storage-gateway/permissions",
    ),
    (
        "HighRequestLatency",
        "checkout-api",
        "warning",
        "checkout-api p99 latency above 1s",
        "https://runbooks.example.com/checkout-api/latency",
    ),
)
GENERATOR_URL = (
    "http://prometheus-0.monitoring.svc:9090/graph?g0.expr=sum+by+%28service%2C+pod"
    "%29+%28rate%28http_requests_total%7Bcode%3D~%225..%22%7D%5B5m%5D%29%29+%3E+0.05&g0.tab=1"
)
ALERT = (
    '{"status":"firing","labels":{"alertname":"%s","cluster":"%s","instance":"%s",'
    '"job":"%s","namespace":"prod","pod":"%s","service":"%s","severity":"%s"},'
    '"annotations":{"description":"%s","runbook_url":"%s","summary":"%s"},'
    '"startsAt":"%s","endsAt":"0001-01-01T00:00:00Z","generatorURL":"%s","fingerprint":"%s"}'
)
HEAD = '{"receiver":"runbook-router","status":"firing","alerts":['
TAIL = (
    '],"groupLabels":{"alertname":"%s","cluster":"%s"},"commonLabels":{%s},'
    '"commonAnnotations":{%s},"externalURL":"http://alertmanager-0.monitoring.svc:9093",'
    '"version":"4","groupKey":"{}/{severity=~\\"critical|warning\\"}:{alertname=\\"%s\\", '
    'cluster=\\"%s\\"}","truncatedAlerts":0}'
)
_REQUEST_ID = re.compile(r"^r(\d+)-t(\d+)-(\d+)$")


def make_body(run: int, tid: int, n: int, size: int, group_every: int = GROUP_EVERY) -> str:
    """Body number ``n`` (1-based) of client thread ``tid`` in run ``run``."""
    g = (n - 1) // group_every
    alertname, service, severity, summary, url = SERVICES[g % len(SERVICES)]
    cluster = f"bench-r{run}-t{tid}-g{g}"
    parts = []
    pod = instance = description = ""
    for i in range(1, size + 1):
        seq = (n - 1) * size + i
        t = (n * 7 + i) % 86400
        pod = f"{service}-7d9f8b6c5-{seq % 100000:05d}"
        instance = f"10.{seq // 65536 % 256}.{seq // 256 % 256}.{seq % 256}:8080"
        description = f"{summary} on {pod} ({instance}) for more than 5 minutes"
        starts = f"2026-11-28T{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}.{seq % 1000:03d}Z"
        fingerprint = f"{run:04x}{tid:04x}{seq:08x}"
        parts.append(
            ALERT
            % (
                alertname,
                cluster,
                instance,
                service,
                pod,
                service,
                severity,
                description,
                url,
                summary,
                starts,
                GENERATOR_URL,
                fingerprint,
            )
        )
    if size == 1:
        labels = (
            f'"alertname":"{alertname}","cluster":"{cluster}","instance":"{instance}",'
            f'"job":"{service}","namespace":"prod","pod":"{pod}","service":"{service}",'
            f'"severity":"{severity}"'
        )
        annotations = f'"description":"{description}","runbook_url":"{url}","summary":"{summary}"'
    else:
        labels = (
            f'"alertname":"{alertname}","cluster":"{cluster}","job":"{service}",'
            f'"namespace":"prod","service":"{service}","severity":"{severity}"'
        )
        annotations = f'"runbook_url":"{url}","summary":"{summary}"'
    tail = TAIL % (alertname, cluster, labels, annotations, alertname, cluster)
    return HEAD + ",".join(parts) + tail


def expected_body(request_id: str, size: int) -> str | None:
    """What ``make_body`` builds for a request id ``r<run>-t<thread>-<n>``."""
    match = _REQUEST_ID.match(request_id)
    if match is None:
        return None
    run, tid, n = (int(x) for x in match.groups())
    return make_body(run, tid, n, size)
