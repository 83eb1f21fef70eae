"""Where each key of a YAML document is: the line numbers behind ``file:line`` errors."""

from __future__ import annotations

from collections.abc import Sequence

import yaml

YamlPath = tuple[str | int, ...]


def key_lines(text: str, *, first_line: int = 1) -> dict[YamlPath, int]:
    """Map each YAML path (keys and list indexes) to its line; ``text`` starts at ``first_line``.

    Raises ``yaml.YAMLError`` if ``text`` is not YAML.
    """
    out: dict[YamlPath, int] = {}

    def walk(node: yaml.Node, prefix: YamlPath) -> None:
        out[prefix] = node.start_mark.line + first_line
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                out[(*prefix, key.value)] = key.start_mark.line + first_line
                walk(value, (*prefix, key.value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*prefix, i))

    root = yaml.compose(text)
    if root is not None:
        walk(root, ())
    return out


def line_of(lines: dict[YamlPath, int], loc: Sequence[str | int], default: int = 1) -> int:
    """The line of ``loc``, else of its nearest ancestor that has one."""
    loc = tuple(loc)
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return default
