"""Channels that deliver a claimed message: JSON webhook, Slack-compatible webhook, SMTP.

Every attempt carries the message's ``Idempotency-Key`` (e-mail: as ``Message-ID`` too), so
a receiver can drop a retry it already processed. URLs and credentials come from environment
variables named in the config; a channel whose variable is unset is disabled with a
warning, never a crash, while one whose variable holds no usable http(s) URL is a
configuration error (``url_problem``; refused at start-up and by ``runbook-router check``).
URLs are never logged (incoming-webhook URLs are secrets).

Header values of e-mail are sanitised (control characters, line breaks included, become
spaces; ``email.policy`` folds long ones), so an incident title never breaks composing.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

import anyio
import httpx

from app.escalation.config import Channel, EmailChannel, SlackChannel, WebhookChannel
from app.escalation.outbox import Outgoing
from app.text import one_line

log = logging.getLogger(__name__)

_RETRYABLE_HTTP = {408, 425, 429}
# A host name's labels as the resolver takes them (after httpx's IDNA encoding); ``_`` is
# not valid in DNS host names but container and compose service names use it.
_LABEL = re.compile(r"[A-Za-z0-9_-]{1,63}")


def _host_problem(host: str) -> str | None:
    """Why ``host`` (ASCII, as httpx encodes it) cannot be connected to, or None."""
    if ":" in host:  # an IPv6 literal; httpx has checked it
        return None
    try:
        host.encode("idna")  # what the socket layer does before resolving: empty labels fail
    except UnicodeError:
        return "has an invalid host name (an empty or over-long label)"
    labels = host.removesuffix(".").split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        return "has an invalid host name (use letters, digits, '-' and '.', no spaces)"
    return None


def url_problem(url: str) -> str | None:
    """What makes ``url`` unusable for a webhook (without repeating it: it is a secret)."""
    try:
        parsed = httpx.URL(url)
        host = parsed.host  # decodes A-labels: a malformed one raises here
    except (httpx.InvalidURL, ValueError) as err:  # ValueError: idna.IDNAError
        return f"does not parse as a URL ({err})"
    if parsed.scheme not in ("http", "https"):
        return "is not an http(s) URL"
    if not host:
        return "has no host"
    if (problem := _host_problem(parsed.raw_host.decode("ascii"))) is not None:
        return problem
    if parsed.port is not None and not 0 < parsed.port < 65536:  # httpx accepts 99999
        return f"has an invalid port ({parsed.port})"
    return None


class DeliveryError(Exception):
    """One failed attempt: why (safe to log and store), and whether a retry may help."""

    def __init__(self, reason: str, *, retryable: bool, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.unreachable = unreachable  # timed out or could not connect: leave it this cycle


class Sender(Protocol):
    async def send(self, message: Outgoing) -> None: ...


@dataclass(frozen=True, slots=True)
class HttpSender:
    """POST JSON to a URL; Slack gets ``{"text": ...}``, a webhook the whole message."""

    url: str
    client: httpx.AsyncClient
    timeout: timedelta
    slack: bool = False

    async def send(self, message: Outgoing) -> None:
        body = slack_body(message) if self.slack else message.payload
        try:
            response = await self.client.post(
                self.url,
                json=body,
                headers={"Idempotency-Key": message.key},
                timeout=self.timeout.total_seconds(),
            )
        except httpx.TimeoutException as err:
            reason = f"timed out ({type(err).__name__})"
            raise DeliveryError(reason, retryable=True, unreachable=True) from err
        except httpx.TransportError as err:
            raise DeliveryError(self.redact(err), retryable=True, unreachable=True) from err
        except httpx.HTTPError as err:
            raise DeliveryError(self.redact(err), retryable=True) from err
        except httpx.InvalidURL as err:  # not an HTTPError; start-up refuses most of these
            raise DeliveryError(self.redact(err), retryable=False) from err
        if response.is_success:
            return
        status = response.status_code
        detail = response.text[:200].replace(self.url, "<url>").strip()
        retryable = status >= 500 or status in _RETRYABLE_HTTP
        raise DeliveryError(f"HTTP {status}: {detail}".rstrip(": "), retryable=retryable)

    def redact(self, err: BaseException) -> str:
        """``Type: message`` with the URL (a secret) replaced by ``<url>``."""
        return f"{type(err).__name__}: {err}".replace(self.url, "<url>").rstrip(": ")


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(message: Outgoing) -> dict[str, str]:
    """Slack incoming-webhook text: the subject, then the runbook and acknowledge links."""
    incident = message.payload.get("incident", {})
    links = [f"<{incident['runbook_url']}|Runbook>"] if incident.get("runbook_url") else []
    if incident.get("url"):
        label = "Acknowledge" if message.kind in ("open", "escalation") else "Incident"
        links.append(f"<{incident['url']}|{label}>")
    return {"text": f"{_slack_escape(message.subject)}\n{' · '.join(links)}".strip()}


@dataclass(frozen=True, slots=True)
class SmtpSender:
    """Send a plain-text e-mail with smtplib, in a worker thread."""

    config: EmailChannel
    timeout: timedelta
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    async def send(self, message: Outgoing) -> None:
        email = self.compose(message)
        try:
            await anyio.to_thread.run_sync(self._send, email)
        except smtplib.SMTPResponseException as err:
            text = err.smtp_error
            text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
            reason = f"SMTP {err.smtp_code}: {text[:200]}"
            raise DeliveryError(reason, retryable=400 <= err.smtp_code < 500) from err
        except smtplib.SMTPRecipientsRefused as err:
            reason = f"recipients refused: {', '.join(sorted(err.recipients))}"
            raise DeliveryError(reason, retryable=False) from err
        except (smtplib.SMTPServerDisconnected, OSError) as err:  # timed out, refused, closed
            reason = f"{type(err).__name__}: {err}"
            raise DeliveryError(reason, retryable=True, unreachable=True) from err
        except smtplib.SMTPException as err:
            raise DeliveryError(f"{type(err).__name__}: {err}", retryable=True) from err

    def compose(self, message: Outgoing) -> EmailMessage:
        email = EmailMessage()
        headers = {
            "From": self.config.sender,
            "To": ", ".join(self.config.to),
            "Subject": message.subject,
            "Date": formatdate(usegmt=True),
            "Message-ID": f"<{message.key}@runbook-router>",
            "Idempotency-Key": message.key,
        }
        for name, value in headers.items():
            email[name] = one_line(value)  # every line break email.policy knows
        email.set_content(message.text + "\n")
        return email

    def _send(self, email: EmailMessage) -> None:
        cfg, seconds = self.config, self.timeout.total_seconds()
        context = ssl.create_default_context()
        if cfg.tls == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                cfg.smtp_host, cfg.smtp_port, timeout=seconds, context=context
            )
        else:
            smtp = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=seconds)
        with smtp:
            if cfg.tls == "starttls":
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(email)


@dataclass(frozen=True, slots=True)
class ChannelSet:
    """Senders of the enabled channels, and why each other channel is disabled."""

    senders: dict[str, Sender]
    disabled: dict[str, str]


def disabled_reason(config: Channel, environ: Mapping[str, str]) -> str | None:
    """Why the channel cannot send (an unset variable), or None.

    A variable that is set but holds no usable URL is not a reason to disable: it is a
    configuration error (``url_problem``), refused before any sender is built."""
    if isinstance(config, EmailChannel):
        for name in (config.username_env, config.password_env):
            if name and not environ.get(name):
                return f"disabled: environment variable {name} is unset"
        return None
    url = environ.get(config.url_env, "").strip()
    if not url:
        return f"disabled: environment variable {config.url_env} is unset"
    return None


def build_channels(
    configs: Mapping[str, Channel],
    *,
    environ: Mapping[str, str],
    client: httpx.AsyncClient,
    timeout: timedelta,
) -> ChannelSet:
    """Read each channel's secrets once (at start-up); warn about every disabled one."""
    # httpx logs every request URL at INFO; incoming-webhook URLs carry their secret.
    logging.getLogger("httpx").setLevel(max(logging.getLogger("httpx").level, logging.WARNING))
    senders: dict[str, Sender] = {}
    disabled: dict[str, str] = {}
    for name, config in sorted(configs.items()):
        reason = disabled_reason(config, environ)
        if reason is not None:
            disabled[name] = reason
            log.warning("notification channel disabled", extra={"channel": name, "reason": reason})
        elif isinstance(config, EmailChannel):
            senders[name] = SmtpSender(
                config,
                timeout,
                environ.get(config.username_env or "") or None,
                environ.get(config.password_env or "") or None,
            )
        else:
            url = environ[config.url_env].strip()
            slack = isinstance(config, SlackChannel)
            assert slack or isinstance(config, WebhookChannel)
            senders[name] = HttpSender(url, client, timeout, slack=slack)
    return ChannelSet(senders, disabled)
