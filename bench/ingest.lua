-- wrk script for bench/ingest.py: realistic Alertmanager v4 webhook bodies.
--
-- bench/ingest.py prepends one line `BENCH = {...}` with:
--   mode         "new" (every request carries new alerts), "repeat" (byte-identical repeats of
--                bodies stored earlier) or "mix" (odd requests new, even requests repeats)
--   size         alerts per payload
--   run          run id: new fingerprints are unique per (run, thread, request, alert)
--   pool_run     run whose bodies are repeated ("repeat", "mix")
--   pool         how many of pool_run's first bodies each thread cycles through
--   group_every  requests per groupKey (a new group, hence a new incident, every N requests)
--   token, path  webhook credentials and path
--   result_path  file that done() writes its JSON summary and the unacknowledged bodies to
--
-- Bodies must stay byte-identical to bench/ingest.py's make_body() (used to check them and as
-- the fallback client's generator).

local P = BENCH
local fmt = string.format
local floor = math.floor
local concat = table.concat

-- alertname, service, severity, summary, runbook URL (the last one has no matcher: generic)
local SERVICES = {
  { "Workflow500", "workflow-api", "critical", "workflow-api returns HTTP 500",
    "https://runbooks.example.com/workflow-api/workflow500" },
  { "QueueBacklog", "queue-worker", "warning", "queue-worker backlog keeps growing",
    "https://runbooks.example.com/queue-worker/backlog" },
  { "PdfNotFound", "pdf-renderer", "warning", "pdf-renderer answers 404 for stored documents",
    "https://runbooks.example.com/pdf-renderer/not-found" },
  { "StoragePermissionDenied", "storage-gateway", "critical",
    "storage-gateway is denied access to its bucket",
    "https://runbooks.example.com/storage-gateway/permissions" },
  { "HighRequestLatency", "checkout-api", "warning", "checkout-api p99 latency above 1s",
    "https://runbooks.example.com/checkout-api/latency" },
}
local GENERATOR = "http://prometheus-0.monitoring.svc:9090/graph?g0.expr=sum+by+%28service%2C+pod"
  .. "%29+%28rate%28http_requests_total%7Bcode%3D~%225..%22%7D%5B5m%5D%29%29+%3E+0.05&g0.tab=1"
local ALERT = '{"status":"firing","labels":{"alertname":"%s","cluster":"%s","instance":"%s",'
  .. '"job":"%s","namespace":"prod","pod":"%s","service":"%s","severity":"%s"},'
  .. '"annotations":{"description":"%s","runbook_url":"%s","summary":"%s"},'
  .. '"startsAt":"%s","endsAt":"0001-01-01T00:00:00Z","generatorURL":"%s","fingerprint":"%s"}'
local TAIL = '],"groupLabels":{"alertname":"%s","cluster":"%s"},"commonLabels":{%s},'
  .. '"commonAnnotations":{%s},"externalURL":"http://alertmanager-0.monitoring.svc:9093",'
  .. '"version":"4","groupKey":"{}/{severity=~\\"critical|warning\\"}:{alertname=\\"%s\\", '
  .. 'cluster=\\"%s\\"}","truncatedAlerts":0}'
local HEAD = '{"receiver":"runbook-router","status":"firing","alerts":['

-- Body number n (1-based) of thread tid in run `run`.
local function make_body(run, tid, n)
  local g = floor((n - 1) / P.group_every)
  local s = SERVICES[g % #SERVICES + 1]
  local alertname, service, severity, summary, url = s[1], s[2], s[3], s[4], s[5]
  local cluster = fmt("bench-r%d-t%d-g%d", run, tid, g)
  local parts = {}
  local pod, instance, description
  for i = 1, P.size do
    local seq = (n - 1) * P.size + i
    local t = (n * 7 + i) % 86400
    pod = fmt("%s-7d9f8b6c5-%05d", service, seq % 100000)
    instance = fmt("10.%d.%d.%d:8080", floor(seq / 65536) % 256, floor(seq / 256) % 256, seq % 256)
    description = fmt("%s on %s (%s) for more than 5 minutes", summary, pod, instance)
    parts[i] = fmt(ALERT, alertname, cluster, instance, service, pod, service, severity,
      description, url, summary,
      fmt("2026-11-28T%02d:%02d:%02d.%03dZ", floor(t / 3600), floor(t / 60) % 60, t % 60, seq % 1000),
      GENERATOR, fmt("%04x%04x%08x", run, tid, seq))
  end
  local labels, annotations
  if P.size == 1 then
    labels = fmt('"alertname":"%s","cluster":"%s","instance":"%s","job":"%s","namespace":"prod",'
      .. '"pod":"%s","service":"%s","severity":"%s"', alertname, cluster, instance, service, pod,
      service, severity)
    annotations = fmt('"description":"%s","runbook_url":"%s","summary":"%s"', description, url,
      summary)
  else
    labels = fmt('"alertname":"%s","cluster":"%s","job":"%s","namespace":"prod","service":"%s",'
      .. '"severity":"%s"', alertname, cluster, service, service, severity)
    annotations = fmt('"runbook_url":"%s","summary":"%s"', url, summary)
  end
  return HEAD .. concat(parts, ",") .. fmt(TAIL, alertname, cluster, labels, annotations,
    alertname, cluster)
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("tid", #threads)
end

local H  -- headers of requests that carry new alerts (they get an X-Request-ID to track them)
local pool = {}  -- ready-made repeat requests

function init(args)
  sent, responses, non2xx = 0, 0, 0
  new_requests, sent_new_alerts, acked_new_alerts, server_new = 0, 0, 0, 0
  inflight = {}  -- request id -> body of a new-alert request not yet acknowledged with 2xx
  H = {
    ["Authorization"] = "Bearer " .. P.token,
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "Alertmanager/0.27.0",
  }
  if P.mode ~= "new" then
    local repeat_headers = {}
    for k, v in pairs(H) do repeat_headers[k] = v end
    for i = 1, P.pool do
      pool[i] = wrk.format("POST", P.path, repeat_headers, make_body(P.pool_run, tid, i))
    end
  end
end

local function new_request(k)
  local body = make_body(P.run, tid, k)
  local id = fmt("r%d-t%d-%d", P.run, tid, k)
  inflight[id] = body
  new_requests = new_requests + 1
  sent_new_alerts = sent_new_alerts + P.size
  H["X-Request-ID"] = id
  return wrk.format("POST", P.path, H, body)
end

function request()
  sent = sent + 1
  if P.mode == "new" then
    return new_request(sent)
  elseif P.mode == "repeat" then
    return pool[(sent - 1) % P.pool + 1]
  elseif sent % 2 == 1 then
    return new_request((sent + 1) / 2)
  end
  return pool[(sent / 2 - 1) % P.pool + 1]
end

function response(status, headers, body)
  responses = responses + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    return  -- a new-alert request stays in `inflight`: ingest.py retries it like Alertmanager
  end
  local id = headers["x-request-id"]
  if id and inflight[id] then
    inflight[id] = nil
    acked_new_alerts = acked_new_alerts + P.size
  end
  local new = body:match('"new":(%d+)')
  if new then server_new = server_new + tonumber(new) end
end

function done(summary, latency, requests)
  local out = assert(io.open(P.result_path, "w"))
  local rows = {}
  for i, t in ipairs(threads) do
    local pending = 0
    for id, body in pairs(t:get("inflight")) do
      out:write(fmt("inflight\t%d\t%s\t%s\n", P.size, id, body))
      pending = pending + 1
    end
    rows[i] = fmt('{"tid":%d,"sent":%d,"responses":%d,"non2xx":%d,"new_requests":%d,'
      .. '"sent_new_alerts":%d,"acked_new_alerts":%d,"server_new":%d,"inflight":%d}',
      t:get("tid"), t:get("sent"), t:get("responses"), t:get("non2xx"), t:get("new_requests"),
      t:get("sent_new_alerts"), t:get("acked_new_alerts"), t:get("server_new"), pending)
  end
  local e = summary.errors
  out:write(fmt('summary\t{"requests":%d,"duration_us":%d,"bytes":%d,'
    .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
    .. '"latency_us":{"min":%d,"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d},'
    .. '"threads":[%s]}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max, concat(rows, ",")))
  out:close()
end
