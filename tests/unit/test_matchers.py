"""Tests for app.classification.matchers (a port of Alertmanager's classic matcher parser)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.classification.matchers import (
    Matcher,
    MatcherSyntaxError,
    MatchType,
    matches_all,
    parse_matcher,
    parse_matchers,
)

EQ, NE, RE, NRE = MatchType.EQUAL, MatchType.NOT_EQUAL, MatchType.REGEX, MatchType.NOT_REGEX
FORMAT = "bad matcher format"
QUOTE = "matcher value contains unescaped double quote"
EMPTY = "empty matcher"
BAD_RE = "invalid regular expression"

# Ported from prometheus/alertmanager pkg/labels/parse_test.go (TestMatchers), valid inputs.
# Go raw strings (`...`) are written as Python raw strings; expected (name, type, value).
PARSE_OK: list[tuple[str, list[tuple[str, MatchType, str]]]] = [
    ("{}", []),
    ("{foo='}", [("foo", EQ, "'")]),
    ("{foo=`}", [("foo", EQ, "`")]),
    (r"{foo=\"}", [("foo", EQ, '"')]),
    ("{foo=bar}", [("foo", EQ, "bar")]),
    ('{foo="bar"}', [("foo", EQ, "bar")]),
    ("{foo=~bar.*}", [("foo", RE, "bar.*")]),
    ('{foo=~"bar.*"}', [("foo", RE, "bar.*")]),
    ("{foo!=bar}", [("foo", NE, "bar")]),
    ('{foo!="bar"}', [("foo", NE, "bar")]),
    ("{foo!~bar.*}", [("foo", NRE, "bar.*")]),
    ('{foo!~"bar.*"}', [("foo", NRE, "bar.*")]),
    ('{foo="bar", baz!="quux"}', [("foo", EQ, "bar"), ("baz", NE, "quux")]),
    ('{foo="bar", baz!~"quux.*"}', [("foo", EQ, "bar"), ("baz", NRE, "quux.*")]),
    (
        '{foo="bar",baz!~".*quux", derp="wat"}',
        [("foo", EQ, "bar"), ("baz", NRE, ".*quux"), ("derp", EQ, "wat")],
    ),
    (
        '{foo="bar", baz!="quux", derp="wat"}',
        [("foo", EQ, "bar"), ("baz", NE, "quux"), ("derp", EQ, "wat")],
    ),
    (
        '{foo="bar", baz!~".*quux.*", derp="wat"}',
        [("foo", EQ, "bar"), ("baz", NRE, ".*quux.*"), ("derp", EQ, "wat")],
    ),
    ('{foo="bar", instance=~"some-api.*"}', [("foo", EQ, "bar"), ("instance", RE, "some-api.*")]),
    ('{foo=""}', [("foo", EQ, "")]),
    ('{foo="bar,quux", job="job1"}', [("foo", EQ, "bar,quux"), ("job", EQ, "job1")]),
    ('{foo = "bar", dings != "bums", }', [("foo", EQ, "bar"), ("dings", NE, "bums")]),
    ("foo=bar,dings!=bums", [("foo", EQ, "bar"), ("dings", NE, "bums")]),
    (
        r"""{quote="She said: \"Hi, ladies! That's gender-neutral…\""}""",
        [("quote", EQ, '''She said: "Hi, ladies! That's gender-neutral…"''')],
    ),
    ('statuscode=~"5.."', [("statuscode", RE, "5..")]),
    ("tricky=~~~", [("tricky", RE, "~~")]),
    (r"trickier==\\=\=\"", [("trickier", EQ, r'=\=\="')]),
    (
        r'contains_quote != "\"" , contains_comma !~ "foo,bar" , ',
        [("contains_quote", NE, '"'), ("contains_comma", NRE, "foo,bar")],
    ),
    ("{foo=bar}}", [("foo", EQ, "bar}")]),
    ("{foo=bar}},}", [("foo", EQ, "bar}}")]),
    ("{foo=,bar=}}", [("foo", EQ, ""), ("bar", EQ, "}")]),
    (r"{foo=bar\t}", [("foo", EQ, r"bar\t")]),
    (r"{foo=bar\n}", [("foo", EQ, "bar\n")]),
    (r"{foo=bar\}", [("foo", EQ, "bar\\")]),
    (r"{foo=bar\\}", [("foo", EQ, "bar\\")]),
    (r"{foo=bar\"}", [("foo", EQ, 'bar"')]),
    ("job=", [("job", EQ, "")]),
    ("{foo=", [("foo", EQ, "")]),
    ("{foo=}b", [("foo", EQ, "}b")]),
]

# Ported from the same table, invalid inputs: (input, reason, 1-based column of the problem).
# Alertmanager's own message is noted where our reason is worded differently.
PARSE_ERRORS: list[tuple[str, str, int]] = [
    (",", EMPTY, 1),  # AM: "bad matcher format: "
    ("{,}", EMPTY, 2),  # AM: "bad matcher format: "
    ('job="value', QUOTE, 5),
    ('job=value"', QUOTE, 10),
    (r'trickier==\\=\=\""', QUOTE, 18),
    ('contains_unescaped_quote = foo"bar', QUOTE, 31),
    ('{invalid-name = "valid label"}', FORMAT, 9),
    ('{foo=~"invalid[regexp"}', BAD_RE, 7),  # AM: "error parsing regexp: missing closing ]"
    # Double escaped strings.
    (r'"{foo=\"bar"}', FORMAT, 1),
    (r'"foo=\"bar"', FORMAT, 1),
    (r'"foo=\"bar\""', FORMAT, 1),
    (r'"foo=\"bar\"', FORMAT, 1),
    (r'"{foo=\"bar\"}"', FORMAT, 1),
    ('"foo="bar""', FORMAT, 1),
    ("{{foo=", FORMAT, 2),
]


def _triples(matchers: tuple[Matcher, ...]) -> list[tuple[str, MatchType, str]]:
    return [(m.name, m.type, m.value) for m in matchers]


@pytest.mark.parametrize(("text", "expected"), PARSE_OK)
def test_parse_matchers_alertmanager_valid_cases(
    text: str, expected: list[tuple[str, MatchType, str]]
) -> None:
    assert _triples(parse_matchers(text)) == expected


@pytest.mark.parametrize(("text", "reason", "column"), PARSE_ERRORS)
def test_parse_matchers_alertmanager_invalid_cases(text: str, reason: str, column: int) -> None:
    with pytest.raises(MatcherSyntaxError, match=re.escape(reason)) as info:
        parse_matchers(text)
    assert info.value.column == column
    assert info.value.text == text
    assert str(info.value).startswith('bad matcher "')
    assert f"at column {column}" in str(info.value)


@pytest.mark.parametrize(
    ("text", "reason", "column"),
    [
        ("", EMPTY, 1),
        ("foo", "expected one of =, !=, =~, !~", 4),
        ("foo==", None, None),  # valid: the value is "="
        ("1foo=bar", "expected label name", 1),
        ("  foo bar=baz", "expected one of", 7),
        ("foo!bar", "expected one of", 4),
        ("foo=~(", BAD_RE, 6),
        ('{foo="bar"}', "expected label name", 1),  # ParseMatcher does not strip braces
        ("foo=\ud800", "not valid UTF-8", 5),
    ],
)
def test_parse_matcher_errors_point_at_the_problem(
    text: str, reason: str | None, column: int | None
) -> None:
    if reason is None:
        assert parse_matcher(text) == Matcher("foo", EQ, "=")
        return
    with pytest.raises(MatcherSyntaxError, match=re.escape(reason)) as info:
        parse_matcher(text)
    assert (info.value.column, info.value.text) == (column, text)


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ('a="1",b=~"(", c="3"', 10),
        ('{a="1", b="2",,}', 15),
        ('  a="1",  b=x"y"  ', 14),
    ],
)
def test_parse_matchers_column_is_relative_to_the_whole_text(text: str, column: int) -> None:
    with pytest.raises(MatcherSyntaxError) as info:
        parse_matchers(text)
    assert info.value.column == column


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("   ", []),
        ("{a=b,}", [("a", EQ, "b")]),
        ("a=b ,\tc!=d,\n", [("a", EQ, "b"), ("c", NE, "d")]),
        ("a:b_c=x", [("a:b_c", EQ, "x")]),  # classic names allow ':'
        ('a="x\\\\"', [("a", EQ, "x\\")]),
        ('a="new\\nline"', [("a", EQ, "new\nline")]),
        ('a="with \\"comma, inside\\""', [("a", EQ, 'with "comma, inside"')]),
        ("a = spaced value  ", [("a", EQ, "spaced value")]),
        ('a=" kept "', [("a", EQ, " kept ")]),
        ("a=b,\u00a0c=d\u00a0", [("a", EQ, "b"), ("c", EQ, "d")]),  # Go's TrimSpace
    ],
)
def test_parse_matchers_more_cases(text: str, expected: list[tuple[str, MatchType, str]]) -> None:
    assert _triples(parse_matchers(text)) == expected


def test_parse_matcher_single() -> None:
    m = parse_matcher('service=~"workflow-.*"')
    assert (m.name, m.type, m.value) == ("service", RE, "workflow-.*")
    assert m.matches("workflow-engine")
    assert not m.matches("my-workflow-engine")


# Ported from prometheus/alertmanager pkg/labels/matcher_test.go (TestMatcher).
@pytest.mark.parametrize(
    ("type_", "pattern", "value", "expected"),
    [
        (EQ, "bar", "bar", True),
        (EQ, "bar", "foo-bar", False),
        (NE, "bar", "bar", False),
        (NE, "bar", "foo-bar", True),
        (RE, "bar", "bar", True),
        (RE, "bar", "foo-bar", False),
        (RE, ".*bar", "foo-bar", True),
        (NRE, "bar", "bar", False),
        (NRE, "bar", "foo-bar", True),
        (NRE, ".*bar", "foo-bar", False),
        (RE, "foo.bar", "foo-bar", True),
        (RE, r"foo\.bar", "foo-bar", False),
        (RE, r"foo\.bar", "foo.bar", True),
        (EQ, "foo\nbar", "foo\nbar", True),
        (RE, "foo.bar", "foo\nbar", False),
        (RE, "(?s)foo.bar", "foo\nbar", True),
        (EQ, '~!="', '~!="', True),
    ],
)
def test_matcher_matches_alertmanager_cases(
    type_: MatchType, pattern: str, value: str, expected: bool
) -> None:
    assert Matcher("foo", type_, pattern).matches(value) is expected


# Go RE2 semantics reproduced on top of Python's re: (pattern, value, matches?).
@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("(?i)critical", "CRITICAL", True),  # Python 3.11 rejects "^(?:(?i)x)$" as such
        ("a(?i)b|c", "aB", True),  # flags last until the group ends, across |
        ("a(?i)b|c", "C", True),
        ("a(?i)b|c", "Ab", False),
        ("(a(?i)b)c", "aBC", False),
        ("(?i:a)b", "Ab", True),
        ("(?i:a)b", "AB", False),
        ("5..", "500", True),
        ("5..", "5000", False),  # anchored: the whole value must match
        ("a|b", "ab", False),
        ("foo", "foo\n", False),  # Go's $ is the very end, Python's $ is not
        ("foo$", "foo\n", False),
        ("a$\n?", "a\n", False),  # in Go, $ without (?m) never matches before a newline
        ("(?m)a$\n?", "a\n", True),
        (r"foo\z", "foo", True),
        (r"\d+", "123", True),
        (r"\d", "٣", False),  # ASCII-only, as in Go
        (r"\w+", "café", False),
        (r"\s", "\v", False),  # Go's \s is [\t\n\f\r ]
        (r"\S", "\v", True),
        (r"[\d\s]+", "1 2", True),
        (r"[^\D]", "7", True),
        (r".\bfoo\b.", "éfooé", True),  # ASCII word boundary
        ("[[:alpha:]_]+", "ab_c", True),
        ("[[:alpha:]]+", "a1", False),
        ("[[:^digit:]]", "x", True),
        ("[[:^digit:]]", "1", False),
        ("[]a]+", "]a", True),
        ("[[a]+", "[a", True),
        ("x{,3}", "x{,3}", True),  # not a repeat in Go: literal text
        ("x{,3}", "xx", False),
        ("x{2}", "xx", True),
        ("x{2,}?", "xxx", True),
        (r"\Qa.b\E", "a.b", True),
        (r"\Qa.b\E", "axb", False),
        (r"\Qa.b", "a.b", True),
        (r"\x41\x{42}\103\0", "ABC\0", True),
        ("(?P<a>x)(?<b>y)", "xy", True),
        ("(?i)a|b", "B", True),
        ("", "", True),
        ("", "x", False),
        # Alertmanager concatenates "^(?:" + value + ")$", so ")" in the value can break out.
        ("a)|(b", "abc", True),
        ("a)|(b", "xb", True),
        ("a)|(b", "xbx", False),
    ],
)
def test_regex_follows_go_semantics(pattern: str, value: str, expected: bool) -> None:
    assert Matcher("l", RE, pattern).matches(value) is expected
    assert Matcher("l", NRE, pattern).matches(value) is not expected


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("invalid[regexp", "missing closing ]"),
        ("(a", "missing )"),
        ("a)", "unbalanced parenthesis"),
        ("*a", "nothing to repeat"),
        ("a**", "invalid nested repetition operator"),
        ("a*+", "invalid nested repetition operator"),  # possessive in Python 3.11
        ("a++", "invalid nested repetition operator"),
        ("a{2}{3}", "invalid nested repetition operator"),
        ("a*??", "invalid nested repetition operator"),
        ("a{1001}", "invalid repeat count"),
        ("a{1,1001}", "invalid repeat count"),
        ("(?=a)a", "unsupported Perl syntax"),
        ("(?!a)b", "unsupported Perl syntax"),
        ("(?<=a)b", "unsupported Perl syntax"),
        ("(?<!a)b", "unsupported Perl syntax"),
        ("(?>a)", "unsupported Perl syntax"),
        ("(?#comment)", "unsupported Perl syntax"),
        ("(?P<n>a)(?P=n)", "unsupported Perl syntax"),
        ("(a)\\1", "invalid escape sequence"),
        ("\\8", "invalid escape sequence"),
        ("a\\Z", "invalid escape sequence"),
        ("\\u0041", "invalid escape sequence"),
        ("\\N{DIGIT ONE}", "invalid escape sequence"),
        ("\\xZZ", "invalid escape sequence"),
        ("\\x{110000}", "invalid escape sequence"),
        ("[\\b]", "invalid escape sequence"),
        ("a\\", "trailing backslash"),
        ("[[:foo:]]", "invalid character class range"),
        ("(?x)a", "unsupported flags"),
        ("(?a)a", "unsupported flags"),
        # Valid in Go, not supported here (no Python equivalent in the re module):
        ("\\pL", "Unicode classes are not supported"),
        ("\\p{Greek}", "Unicode classes are not supported"),
        ("(?U)a*", "unsupported flags"),
    ],
)
def test_invalid_regex_raises_matcher_syntax_error(pattern: str, reason: str) -> None:
    with pytest.raises(MatcherSyntaxError, match=re.escape(reason)) as info:
        Matcher("l", RE, pattern)
    assert not isinstance(info.value, re.error)
    assert str(info.value).startswith('bad matcher "l=~')
    with pytest.raises(MatcherSyntaxError, match=re.escape(BAD_RE)):
        parse_matcher(f'l!~"{pattern.replace(chr(92), chr(92) * 2)}"')


# Ported from prometheus/alertmanager pkg/labels/matcher_test.go (TestMatcherString).
@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        (EQ, "bar", 'foo="bar"'),
        (NE, "bar", 'foo!="bar"'),
        (RE, "bar", 'foo=~"bar"'),
        (NRE, "bar", 'foo!~"bar"'),
        (EQ, "back\\slash", 'foo="back\\\\slash"'),
        (EQ, 'double"quote', 'foo="double\\"quote"'),
        (EQ, "new\nline", 'foo="new\\nline"'),
        (EQ, "tab\tstop", 'foo="tab\tstop"'),
    ],
)
def test_matcher_str(type_: MatchType, value: str, expected: str) -> None:
    assert str(Matcher("foo", type_, value)) == expected


@pytest.mark.parametrize(
    ("labels", "text", "expected"),
    [
        ({"severity": "critical"}, '{severity="critical"}', True),
        ({}, '{severity!="critical"}', True),  # a missing label is ""
        ({}, '{severity=""}', True),
        ({}, '{severity=~".*"}', True),
        ({}, '{severity=~".+"}', False),
        ({}, '{severity!~".+"}', True),
        ({"severity": ""}, '{severity=~"crit.*"}', False),
        ({"a": "1", "b": "2"}, '{a="1", b=~"[0-9]"}', True),
        ({"a": "1", "b": "x"}, '{a="1", b=~"[0-9]"}', False),
        ({"a": "1"}, "{}", True),  # no matchers: matches everything
        ({"service": "workflow-api"}, 'service=~"workflow-.*", env!="staging"', True),
    ],
)
def test_matches_all(labels: dict[str, str], text: str, expected: bool) -> None:
    assert matches_all(parse_matchers(text), labels) is expected


def test_matcher_is_a_value_object() -> None:
    a = parse_matcher('job=~"api|web"')
    b = Matcher("job", "=~", "api|web")  # type: ignore[arg-type]  # coerced to MatchType
    assert a == b
    assert b.type is MatchType.REGEX
    assert len({a, b}) == 1
    assert a != Matcher("job", NRE, "api|web")
    assert str(MatchType.NOT_REGEX) == "!~"
    with pytest.raises(AttributeError):
        a.value = "x"  # type: ignore[misc]


@pytest.mark.parametrize("name", ["", "1abc", "with space", "dash-ed", "é"])
def test_matcher_rejects_invalid_label_names(name: str) -> None:
    with pytest.raises(MatcherSyntaxError, match="invalid label name"):
        Matcher(name, EQ, "x")


def test_matcher_syntax_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r'^bad matcher "foo=~\\"\(\\"": invalid regular'):
        parse_matcher('foo=~"("')


# ---------------------------------------------------------------------------- properties

NAMES = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,15}", fullmatch=True)
LITERAL_TYPES = st.sampled_from([EQ, NE])


def _go_regex_escape(value: str) -> str:
    """Escape like Go's regexp.QuoteMeta-ish: every ASCII punctuation/space gets a backslash."""
    return "".join("\\" + c if c.isascii() and not c.isalnum() else c for c in value)


@given(NAMES, LITERAL_TYPES, st.text())
def test_str_round_trips_through_parse_matcher(name: str, type_: MatchType, value: str) -> None:
    m = Matcher(name, type_, value)
    assert parse_matcher(str(m)) == m
    assert m.matches(value) is (type_ is EQ)


@given(NAMES, st.sampled_from([RE, NRE]), st.text())
def test_escaped_regex_matches_exactly_its_literal(name: str, type_: MatchType, value: str) -> None:
    m = Matcher(name, type_, _go_regex_escape(value))
    assert parse_matcher(str(m)) == m
    assert m.matches(value) is (type_ is RE)
    assert m.matches(value + "x") is (type_ is NRE)


@given(st.lists(st.tuples(NAMES, st.sampled_from(list(MatchType)), st.text()), max_size=5))
def test_matchers_list_round_trips(specs: list[tuple[str, MatchType, str]]) -> None:
    matchers = []
    for name, type_, value in specs:
        regex = type_ in (RE, NRE)
        matchers.append(Matcher(name, type_, _go_regex_escape(value) if regex else value))
    text = ", ".join(str(m) for m in matchers)
    assert parse_matchers("{" + text + "}") == tuple(matchers)
    assert parse_matchers(text + (", " if matchers else "")) == tuple(matchers)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # re's "possible set difference" on [--]
@given(st.text(alphabet=st.sampled_from('ab=!~,{}"\\ \t\n.*+?()[]|^$:-0129xQEdswzip<>P')))
def test_parsing_arbitrary_text_fails_only_with_matcher_syntax_error(text: str) -> None:
    error: MatcherSyntaxError | None = None
    try:
        result = parse_matchers(text)
    except MatcherSyntaxError as err:
        error, result = err, ()
    assert all(isinstance(m, Matcher) for m in result)
    if error is not None:
        assert error.text == text
        assert error.column is not None
        assert 1 <= error.column <= len(text) + 1
