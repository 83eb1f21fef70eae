"""Alertmanager label matchers: a pure port of the classic parser in ``pkg/labels``.

Parsing follows ``ParseMatchers``/``ParseMatcher`` (``parse.go``), matching and ``String()``
follow ``matcher.go``: regexes are anchored as ``^(?:value)$``, a missing label is ``""``.
Unlike Go's ``NewMatcher``, ``Matcher`` checks the name (``[a-zA-Z_:][a-zA-Z0-9_:]*``).

Go RE2 patterns are translated so Python's ``re`` accepts and matches the same things:
mid-pattern ``(?i)`` becomes a scoped ``(?i:...)`` group; ``\\d \\w \\s \\b`` and ``[[:alpha:]]``
stay ASCII-only; ``$`` (without ``m``) and ``\\z`` mean the very end; ``x{,n}`` is literal;
``\\Q..\\E``, ``\\x{..}``, octal and ``(?<name>..)`` are converted. Go's errors are kept (look-
arounds, backreferences, possessive/stacked quantifiers, repeats over 1000, ``\\Z``, ``\\u``).
Valid in Go but rejected here: ``\\pL``/``\\p{Greek}`` and ``(?U)``. Unlike RE2, Python
backtracks (a pathological pattern can be slow) and ``(?i)`` uses Python's case folding.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

_SP = "[\t\n\f\r ]"  # Go's \s
_NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*"
# unicode.IsSpace, used by Go's strings.TrimSpace
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(
    map(chr, range(0x2000, 0x200B))
)
_MATCHER_RE = re.compile(rf"{_SP}*({_NAME}){_SP}*(=~|=|!=|!~){_SP}*(.*?){_SP}*", re.DOTALL)
_PREFIX_RE = re.compile(rf"{_SP}*(?:({_NAME}){_SP}*)?")
_UNESCAPE = {"n": "\n", '"': '"', "\\": "\\"}
# Classes as sorted (low, high) character pairs: POSIX names plus the Perl classes d, s, w.
_CLASSES = {
    "alnum": "09AZaz", "alpha": "AZaz", "ascii": "\x00\x7f", "blank": "\t\t  ",
    "cntrl": "\x00\x1f\x7f\x7f", "digit": "09", "graph": "!~", "lower": "az", "print": " ~",
    "punct": "!/:@[`{~", "space": "\t\r  ", "upper": "AZ", "word": "09AZ__az", "xdigit": "09AFaf",
    "d": "09", "s": "\t\n\f\r  ", "w": "09AZ__az",
}  # fmt: skip
_ANCHORS = {"A": r"\A", "b": r"(?a:\b)", "B": r"(?a:\B)", "z": r"\Z"}
_REPEAT_RE = re.compile(r"\{(\d+)(?:,(\d*))?\}")
_NAMED_RE = re.compile(r"\(\?P?<(\w+)>")
_FLAGS_RE = re.compile(r"\(\?([A-Za-z-]*)([:)])")
_POSIX_RE = re.compile(r"\[:(\^?)([a-z]+):\]")
_CODE_RE = re.compile(r"x\{([0-9A-Fa-f]+)\}|x([0-9A-Fa-f]{2})|(0[0-7]{0,2}|[1-7][0-7]{1,2})")


class MatchType(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


class MatcherSyntaxError(ValueError):
    """Unparsable matcher; ``column`` is 1-based within ``text`` (None when not known)."""

    def __init__(self, matcher: str, reason: str, text: str, column: int | None = None) -> None:
        where = f" at column {column}" if column is not None else ""
        super().__init__(f'bad matcher "{_escape(matcher)}": {reason}{where}')
        self.text, self.column, self.reason = text, column, reason


def _escape(s: str) -> str:
    """Go's openMetricsEscape."""
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _class_body(name: str, negate: bool) -> str:
    spec = _CLASSES[name]
    pairs = [(ord(spec[k]), ord(spec[k + 1])) for k in range(0, len(spec), 2)]
    if negate:
        low, inverted = 0, []
        for a, b in pairs:
            inverted += [(low, a - 1)] if a > low else []
            low = b + 1
        pairs = [*inverted, (low, 0x10FFFF)]
    return "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in pairs)


class _Translator:
    """Rewrites one Go RE2 pattern as an equivalent Python ``re`` pattern (or ValueError)."""

    def __init__(self, src: str) -> None:
        self.src, self.i, self.out = src, 0, list[str]()
        self.scopes: list[list[str]] = [[]]  # per open group: the flag groups we opened in it
        self.quant = 0  # 0: after an atom, 1: after a quantifier, 2: after a lazy quantifier
        self.multiline = False

    def run(self) -> str:
        while self.i < len(self.src):
            c, quant, self.quant = self.src[self.i], self.quant, 0
            if c in "*+?{":
                self._quantifier(c, quant)
            elif c == "\\":
                self.out.append(self._escape(in_class=False))
            elif c in "[(":
                self.out.append(self._char_class() if c == "[" else self._group())
            else:
                self.out.append(self._simple(c))
        while self.scopes:
            self.out.append(")" * len(self.scopes.pop()))
        return "".join(self.out)

    def _simple(self, c: str) -> str:
        self.i += 1
        pending = self.scopes[-1]
        if c == "|":  # Go: flags set by (?i) also hold after | in the same group
            return ")" * len(pending) + "|" + "".join(pending)
        if c == ")":
            self.scopes[-1] = []
            if len(self.scopes) > 1:
                self.scopes.pop()
            return ")" * len(pending) + ")"
        return r"\Z" if c == "$" and not self.multiline else c

    def _quantifier(self, c: str, quant: int) -> None:
        rep = _REPEAT_RE.match(self.src, self.i) if c == "{" else None
        if c == "{" and rep is None:  # not a valid repeat: a literal brace, as in Go
            self.out.append(r"\{")
            self.i += 1
            return
        text = rep.group() if rep else c
        if rep and any(int(n or 0) > 1000 for n in rep.groups()):
            raise ValueError(f"invalid repeat count: {text}")
        if quant == 1 and c == "?":
            self.quant = 2
        elif quant:
            raise ValueError(f"invalid nested repetition operator: {self.src[self.i - 1]}{c}")
        else:
            self.quant = 1
        self.out.append(text)
        self.i += len(text)

    def _group(self) -> str:
        named, flags = _NAMED_RE.match(self.src, self.i), _FLAGS_RE.match(self.src, self.i)
        if named or not flags:
            if not named and self.src.startswith("(?", self.i):
                raise ValueError(f"invalid or unsupported Perl syntax: {self.src[self.i :][:3]}")
            self.i = named.end() if named else self.i + 1
            self.scopes.append([])
            return f"(?P<{named.group(1)}>" if named else "("
        letters, end = flags.groups()
        if set(letters) - set("ims-"):
            raise ValueError(f"invalid or unsupported flags: {flags.group()}")
        self.multiline |= "m" in letters.partition("-")[0]
        self.i = flags.end()
        opened = f"(?{letters}:"
        if end == ")":  # (?i) holds until its enclosing group ends: close it there
            self.scopes[-1].append(opened)
        else:
            self.scopes.append([])
        return opened

    def _char_class(self) -> str:
        start, out = self.i, ["["]
        self.i += 1
        for prefix, emitted in (("^", "^"), ("]", r"\]")):
            if self.src.startswith(prefix, self.i):
                out.append(emitted)
                self.i += 1
        while self.i < len(self.src) and self.src[self.i] != "]":
            c, posix = self.src[self.i], _POSIX_RE.match(self.src, self.i)
            if posix and (posix.group(2) not in _CLASSES or len(posix.group(2)) == 1):
                raise ValueError(f"invalid character class range: {posix.group()}")
            if posix:
                out.append(_class_body(posix.group(2), bool(posix.group(1))))
                self.i = posix.end()
            elif c == "\\":
                out.append(self._escape(in_class=True))
            else:
                out.append("\\" + c if c in "[&~|" else c)
                self.i += 1
        if self.i >= len(self.src):
            raise ValueError(f"missing closing ]: {self.src[start:]}")
        self.i += 1
        return "".join(out) + "]"

    def _escape(self, in_class: bool) -> str:
        rest = self.src[self.i + 1 :]
        c = rest[:1]
        self.i += 2
        if c and c in "dDsSwW":
            body = _class_body(c.lower(), c.isupper())
            return body if in_class else f"[{body}]"
        if c and (c in "afnrtv" or (c.isascii() and not c.isalnum())):
            return "\\" + c
        if c and c in "x01234567" and (code := _CODE_RE.match(rest)):
            value = int(code.group(1) or code.group(2) or code.group(3), 8 if code[3] else 16)
            if value > 0x10FFFF:
                raise ValueError(f"invalid escape sequence: \\{code.group()}")
            self.i += code.end() - 1
            return f"\\U{value:08x}"
        if c and c in "AbBz" and not in_class:
            return _ANCHORS[c]
        if c == "Q" and not in_class:  # \Q...\E: literal text up to \E or the end
            literal, found, _ = rest[1:].partition(r"\E")
            self.i += len(literal) + len(found)
            return re.escape(literal)
        what = "Unicode classes are not supported" if c in "pP" else "invalid escape sequence"
        raise ValueError(f"{what}: \\{c}" if c else "trailing backslash at end of expression")


def _compile(value: str) -> re.Pattern[str]:
    """Go's ``regexp.Compile("^(?:" + value + ")$")``; to be used with ``search``."""
    try:
        return re.compile("^(?:" + _Translator(value).run() + r")\Z")
    except re.error as err:
        raise ValueError(err.msg) from err


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher; the regex (for ``=~``/``!~``) is compiled once, here."""

    name: str
    type: MatchType
    value: str
    _regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", MatchType(self.type))
        if not re.fullmatch(_NAME, self.name):
            raise MatcherSyntaxError(str(self), "invalid label name", str(self), 1)
        if self.type in (MatchType.REGEX, MatchType.NOT_REGEX):
            try:
                object.__setattr__(self, "_regex", _compile(self.value))
            except ValueError as err:
                reason = f"invalid regular expression: {err}"
                raise MatcherSyntaxError(str(self), reason, str(self)) from err

    def matches(self, value: str) -> bool:
        if self._regex is not None:
            return (self._regex.search(value) is not None) == (self.type is MatchType.REGEX)
        return (value == self.value) == (self.type is MatchType.EQUAL)

    def __str__(self) -> str:
        return f'{self.name}{self.type}"{_escape(self.value)}"'


def _unescape(raw: str) -> str | int:
    """ParseMatcher's unescaping (``\\"``, ``\\\\``, ``\\n``; other ``\\`` are literal).

    Returns the index in ``raw`` of a misplaced double quote instead, if there is one.
    """
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    out, escaped, expect_quote = [], False, quoted
    for i, c in enumerate(body):
        if escaped:
            escaped = False
            out.append(_UNESCAPE.get(c, "\\" + c))
        elif c == "\\" and i < len(body) - 1:
            escaped = True
        elif c == '"':
            if not expect_quote or i < len(body) - 1:
                return i + quoted
            expect_quote = False
        else:
            out.append(c)
    return 0 if expect_quote else "".join(out)


def _parse(token: str, text: str, offset: int) -> Matcher:
    """ParseMatcher on ``token``, found at index ``offset`` of ``text``."""
    if (m := _MATCHER_RE.fullmatch(token)) is None:
        prefix = _PREFIX_RE.match(token)
        end = prefix.end() if prefix else 0
        what = "label name" if prefix is None or prefix[1] is None else "one of =, !=, =~, !~"
        reason = f"bad matcher format, expected {what}" if token.strip() else "empty matcher"
        raise MatcherSyntaxError(token, reason, text, offset + end + 1)
    raw, column = m.group(3), offset + m.start(3) + 1
    if not raw.isascii() and any(0xD800 <= ord(c) < 0xE000 for c in raw):
        raise MatcherSyntaxError(token, "matcher value not valid UTF-8", text, column)
    if isinstance(value := _unescape(raw), int):
        reason = "matcher value contains unescaped double quote"
        raise MatcherSyntaxError(token, reason, text, column + value)
    try:
        return Matcher(m.group(1), MatchType(m.group(2)), value)
    except MatcherSyntaxError as exc:
        raise MatcherSyntaxError(token, exc.reason, text, column) from None


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher such as ``service=~"workflow-.*"`` (no surrounding braces)."""
    return _parse(text, text, 0)


def parse_matchers(text: str) -> tuple[Matcher, ...]:
    """Parse ``{a="b", c=~"d"}``; braces optional, commas inside quotes don't separate.

    A trailing comma and an empty input are allowed; an empty element (``a=b,,c=d``) is not.
    """
    base = 1 if text.startswith("{") else 0
    s = text[base:].removesuffix("}")
    tokens: list[tuple[int, str]] = []
    inside, escaped, start = False, False, 0
    for i, c in enumerate(s):
        if c == ",":  # as in Go, a comma never changes the escape state
            if not inside:
                tokens.append((start, s[start:i]))
                start = i + 1
        elif c == '"':
            inside, escaped = (inside if escaped else not inside), False
        else:
            escaped = not escaped if c == "\\" else False
    rest = s[start:]
    if last := rest.strip(_GO_SPACE):
        tokens.append((start + len(rest) - len(rest.lstrip(_GO_SPACE)), last))
    return tuple(_parse(token, text, base + pos) for pos, token in tokens)


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    """True if every matcher matches; a missing label is matched as the empty string."""
    return all(m.matches(labels.get(m.name, "")) for m in matchers)
