"""The filters runbook templates use on untrusted label values.

PromQL string literals are decoded here with Go's ``strconv.Unquote`` rules (what the PromQL
lexer/parser uses); the end-to-end test sends the same literals to a real Prometheus.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import unquote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from app.runbooks.filters import (
    FILTERS,
    duration,
    localtime,
    md,
    promql,
    promql_regex,
    urlquery,
)

# --- a PromQL double-quoted string literal, decoded as Go's strconv.Unquote does ---------------

_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
}


def parse_promql_string(text: str) -> tuple[str, str]:
    """Read one ``"..."`` literal from the start of ``text``: (its value, the rest)."""
    if not text.startswith('"'):
        raise ValueError(f"not a double-quoted literal: {text!r}")
    out: list[str] = []
    i = 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return "".join(out), text[i + 1 :]
        if char == "\n":
            raise ValueError("unterminated quoted string (raw newline)")
        if char != "\\":
            out.append(char)
            i += 1
            continue
        escape = text[i + 1 : i + 2]
        if escape in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[escape])
            i += 2
        elif escape in ("u", "U"):
            width = 4 if escape == "u" else 8
            out.append(chr(int(text[i + 2 : i + 2 + width], 16)))
            i += 2 + width
        else:
            raise ValueError(f"unknown escape sequence \\{escape}")
    raise ValueError("unterminated quoted string")


hostile_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("\"\\\n\r\t{}=~!,#`$'()[]|.*+?^/&%<> ")),
        st.characters(codec="utf-8"),
    ),
    max_size=40,
)


# --- promql ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("api", '"api"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("C:\\temp\\", '"C:\\\\temp\\\\"'),
        ("two\nlines", '"two\\nlines"'),
        ('"} or vector(1) #', '"\\"} or vector(1) #"'),
        (42, '"42"'),
    ],
)
def test_promql_quotes_known_values(value: object, literal: str) -> None:
    assert promql(value) == literal


@given(hostile_text)
@example('"} or vector(1) #')
@example("\\")
@example('\\"')
@example("a\nb")
def test_promql_is_exactly_one_string_literal_holding_the_value(value: str) -> None:
    literal = promql(value)
    assert "\n" not in literal
    decoded, rest = parse_promql_string(literal + ' or up{job="x"}')
    assert decoded == value
    assert rest == ' or up{job="x"}'


# --- promql_regex ---------------------------------------------------------------------------------


def regex_of(value: str) -> str:
    pattern, rest = parse_promql_string(promql_regex(value))
    assert rest == ""
    return pattern


@given(hostile_text, hostile_text)
@example("a.b", "axb")
@example(".*", "anything")
@example("a+", "aa")
@example("(x|y)", "x")
@example("[ab]", "a")
@example("^$", "")
@example("a{2}", "aa")
@example("back\\slash", "back\\\\slash")
def test_promql_regex_matches_the_value_and_nothing_else(value: str, other: str) -> None:
    """Python's ``re`` stands in for RE2: both take backslash-punctuation as a literal."""
    pattern = regex_of(value)
    assert re.fullmatch(pattern, value, flags=re.DOTALL) is not None
    if other != value:
        assert re.fullmatch(pattern, other, flags=re.DOTALL) is None


def test_promql_regex_escapes_every_re2_metacharacter() -> None:
    assert regex_of("\\.+*?()|[]{}^$") == "\\\\\\.\\+\\*\\?\\(\\)\\|\\[\\]\\{\\}\\^\\$"


# --- urlquery -------------------------------------------------------------------------------------

UNRESERVED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%")


@given(hostile_text)
@example("a/b?c=d&e#f")
@example("100%")
@example("x y+z")
def test_urlquery_round_trips_and_leaves_no_url_syntax(value: str) -> None:
    encoded = urlquery(value)
    assert unquote(encoded) == value
    assert not set(encoded) & set("/?&#=+ :@")
    assert set(encoded) <= UNRESERVED
    assert re.fullmatch(r"(?:[^%]|%[0-9A-F]{2})*", encoded)


# --- md -------------------------------------------------------------------------------------------

MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)")
LINK_OR_EMPHASIS = {"a", "em", "strong", "img", "script"}


def tags(rendered: str) -> set[str]:
    return {name.lower() for _, name in TAG.findall(rendered)}


@given(hostile_text)
@example("[click](https://evil.example)")
@example("![x](https://evil.example/x.png)")
@example("*bold* _em_ **strong** __strong__")
@example("<https://evil.example>")
@example("`code`")
@example("[ref]\n\n[ref]: https://evil.example")
@example("<script>alert(1)</script>")
@example('"><img src=x onerror=alert(1)>')
def test_md_leaves_no_link_or_emphasis(value: str) -> None:
    for template in ("Service: {v} is down", "{v}", "- item {v}", "| a |\n|---|\n| {v} |"):
        rendered = MARKDOWN.render(template.replace("{v}", md(value)))
        assert not tags(rendered) & LINK_OR_EMPHASIS, (value, rendered)
        assert "href" not in rendered


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("[click](https://evil.example)", "[click](https://evil.example)"),
        ("*not emphasis*", "*not emphasis*"),
        ("a_b_c", "a_b_c"),
        ("`rm -rf /`", "`rm -rf /`"),
        ("# not a heading", "# not a heading"),
        ("1. not a list", "1. not a list"),
        ("two\nlines", "two lines"),
    ],
)
def test_md_value_reads_as_its_own_text(value: str, text: str) -> None:
    rendered = MARKDOWN.render(md(value))
    assert rendered == f"<p>{html.escape(text, quote=True)}</p>\n"


@given(hostile_text)
@example("x\r===")
@example("x\r\r    rm -rf /")
@example("a\u2028b\x85c")
@example("two  \nlines")
def test_md_inside_a_line_stays_one_plain_paragraph(value: str) -> None:
    """No line break survives, so a value inside a line cannot start any block."""
    rendered = MARKDOWN.render(f"Service: {md(value)} is down")
    assert tags(rendered) == {"p"}, (value, rendered)


@pytest.mark.parametrize(
    ("value", "shown"),
    [("&copy; &lt;b&gt;", "&copy; &lt;b&gt;"), ("AT&amp;T", "AT&amp;T"), ("x\r===", "x ===")],
)
def test_md_shows_entities_and_carriage_returns_as_text(value: str, shown: str) -> None:
    rendered = MARKDOWN.render(md(value))
    assert html.unescape(rendered) == f"<p>{shown}</p>\n"


@pytest.mark.parametrize(
    ("template", "value"),
    [("Service:\n{v}", "==="), ("{v}", "    rm -rf /"), ("{v}", "\trm -rf /")],
    ids=["setext-underline", "indent-spaces", "indent-tab"],
)
def test_md_at_the_start_of_a_line_cannot_start_a_block(template: str, value: str) -> None:
    rendered = MARKDOWN.render(template.replace("{v}", md(value)))
    assert tags(rendered) == {"p"}, rendered


# --- duration and localtime -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"),
        (0, "0s"),
        (0.4, "0s"),
        (59.6, "1m"),
        (90, "1m30s"),
        (3725, "1h2m5s"),
        (86400 + 1, "1d1s"),
        (timedelta(days=2, minutes=3), "2d3m"),
        (timedelta(seconds=7200), "2h"),
        (-90, "-1m30s"),  # a start in the future (a skewed clock)
    ],
)
def test_duration(value: float | timedelta | None, text: str) -> None:
    assert duration(value) == text


NOON_UTC = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "tz", "text"),
    [
        (NOON_UTC, "UTC", "2026-11-28 11:00 UTC"),
        (NOON_UTC, "Europe/Berlin", "2026-11-28 12:00 CET"),
        (datetime(2026, 7, 1, 11, 0, tzinfo=UTC), "Europe/Berlin", "2026-07-01 13:00 CEST"),
        (NOON_UTC, "America/New_York", "2026-11-28 06:00 EST"),
        (NOON_UTC, "Asia/Kolkata", "2026-11-28 16:30 IST"),
        (NOON_UTC.astimezone(timezone(timedelta(hours=-3))), "UTC", "2026-11-28 11:00 UTC"),
        (None, "Europe/Berlin", "-"),
    ],
)
def test_localtime_converts_zones(value: datetime | None, tz: str, text: str) -> None:
    assert localtime(value, tz) == text


@pytest.mark.parametrize(
    "tz",
    ["Nowhere/Atlantis", "", "Europe", "/etc/passwd", "../../etc/localtime", "UTC\x00", "a" * 300],
)
def test_localtime_unknown_zone_falls_back_to_utc(tz: str) -> None:
    assert localtime(NOON_UTC, tz) == "2026-11-28 11:00 UTC"


@pytest.mark.parametrize(
    ("value", "tz", "text"),
    [
        (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), "Asia/Tokyo", "9999-12-31 23:59+00:00"),
        (datetime(1, 1, 1, 0, 0, tzinfo=UTC), "America/New_York", "0001-01-01 00:00+00:00"),
        (datetime(9999, 12, 31, 23, 0, tzinfo=UTC), "America/New_York", "9999-12-31 18:00 EST"),
    ],
)
def test_localtime_is_total_at_the_ends_of_the_calendar(
    value: datetime, tz: str, text: str
) -> None:
    """Shifting year 9999 east (or year 1 west) overflows: shown as stored, in ISO 8601."""
    assert localtime(value, tz) == text


def test_localtime_custom_format() -> None:
    assert localtime(NOON_UTC, "Europe/Berlin", "%H:%M") == "12:00"


def test_filters_registered_for_templates() -> None:
    assert set(FILTERS) == {"promql", "promql_regex", "urlquery", "md", "duration", "localtime"}
