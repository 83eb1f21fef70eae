"""The runbook sandbox: what templates may not reach, and where their errors point.

Every runbook here lives in its own temporary catalog folder, so the shipped runbooks (edited
by others) do not matter. Front matter is several lines long on purpose: a line number that
forgot to count it would be visibly wrong.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.runbooks.renderer import Renderer, RenderError

FRONT = """---
class: {name}
title: Test runbook {name}
team: platform
checklist:
  - {{id: look, text: "Look"}}
---
"""


def write(directory: Path, name: str, body: str) -> str:
    """A runbook file ``<name>.md.j2`` with front matter; returns the template name."""
    (directory / f"{name}.md.j2").write_text(FRONT.format(name=name) + body, encoding="utf-8")
    return f"{name}.md.j2"


def line_of(directory: Path, template: str, needle: str) -> int:
    """The 1-based line of the file that contains ``needle``."""
    lines = (directory / template).read_text(encoding="utf-8").split("\n")
    return next(i for i, line in enumerate(lines, start=1) if needle in line)


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    directory = tmp_path / "catalog"
    directory.mkdir()
    return directory


@pytest.fixture
def renderer(catalog: Path) -> Renderer:
    return Renderer(catalog, max_output=2000)


# --- sandbox ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "''.__class__",
        "''.__class__.__mro__[1].__subclasses__()",
        "labels.__init__.__globals__",
        "lipsum.__globals__",
        "(0).__class__.__bases__",
        "'{0.__class__.__mro__}'.format('')",
        "self._TemplateReference__context",
    ],
)
def test_sandbox_blocks_attribute_escapes(
    catalog: Path, renderer: Renderer, expression: str
) -> None:
    name = write(catalog, "escape", f"# Escape\n\n{{{{ {expression} }}}}\n")
    with pytest.raises(RenderError) as caught:
        renderer.render_markdown(name, {"labels": {"service": "api"}})
    assert caught.value.file == name
    assert "unsafe" in caught.value.detail
    assert caught.value.line == line_of(catalog, name, expression)


def test_plain_data_still_renders_in_the_sandbox(catalog: Path, renderer: Renderer) -> None:
    body = "# {{ title }}\n\n{% for k, v in labels | dictsort %}- {{ k }}: {{ v }}\n{% endfor %}"
    name = write(catalog, "plain", body)
    out = renderer.render_markdown(name, {"title": "T", "labels": {"b": "2", "a": "1"}})
    assert out == "# T\n\n- a: 1\n- b: 2\n"


# --- errors name file and line -----------------------------------------------------------------


def test_undefined_variable_names_file_and_line_counting_front_matter(
    catalog: Path, renderer: Renderer
) -> None:
    body = (
        "# Title\n\nAll good here: {{ labels.service }}\n\n\nBroken: {{ labels.no_such_label }}\n"
    )
    name = write(catalog, "undefined", body)
    expected_line = line_of(catalog, name, "no_such_label")
    assert expected_line == 13  # 7 lines of front matter, then the body's sixth line

    with pytest.raises(RenderError) as caught:
        renderer.render_markdown(name, {"labels": {"service": "api"}})

    err = caught.value
    assert (err.file, err.line) == (name, expected_line)
    assert "no_such_label" in err.detail
    assert str(err).startswith(f"{name}:{expected_line}: ")


def test_undefined_top_level_name_is_an_error_not_blank(catalog: Path, renderer: Renderer) -> None:
    name = write(catalog, "missing", "# Title\n{{ incident.id }}\n")
    with pytest.raises(RenderError) as caught:
        renderer.render_markdown(name, {})
    assert caught.value.line == line_of(catalog, name, "incident.id")
    assert "'incident' is undefined" in caught.value.detail


def test_syntax_error_names_file_and_line(catalog: Path, renderer: Renderer) -> None:
    name = write(catalog, "syntax", "# Title\n\nText\n{% if %}\nmore\n{% endif %}\n")
    with pytest.raises(RenderError) as caught:
        renderer.render_markdown(name, {})
    err = caught.value
    assert Path(err.file).name == name
    assert err.line == line_of(catalog, name, "{% if %}")
    assert err.line == 11


def test_syntax_error_names_the_file_like_runtime_errors_do(
    catalog: Path, renderer: Renderer
) -> None:
    name = write(catalog, "syntax", "# Title\n{% if %}\n{% endif %}\n")
    with pytest.raises(RenderError) as caught:
        renderer.render_markdown(name, {})
    assert caught.value.file == name
    assert str(catalog) not in str(caught.value)


def test_unclosed_block_is_a_render_error(catalog: Path, renderer: Renderer) -> None:
    name = write(catalog, "unclosed", "# Title\n{% for x in [1] %}\n{{ x }}\n")
    with pytest.raises(RenderError) as caught:
        renderer.render_markdown(name, {})
    assert Path(caught.value.file).name == name
    assert caught.value.line is not None


def test_missing_partial_is_a_render_error(catalog: Path, renderer: Renderer) -> None:
    name = write(catalog, "nopartial", '# Title\n{% include "_nowhere.md.j2" %}\n')
    with pytest.raises(RenderError, match=r"_nowhere\.md\.j2"):
        renderer.render_markdown(name, {})


def test_error_inside_a_partial_names_the_partial(catalog: Path, renderer: Renderer) -> None:
    (catalog / "_steps.md.j2").write_text("Step one\nStep two\n{{ labels.nope }}\n")
    name = write(catalog, "includes", '# Title\n{% include "_steps.md.j2" %}\n')
    with pytest.raises(RenderError) as caught:
        renderer.render_markdown(name, {"labels": {}})
    assert (caught.value.file, caught.value.line) == ("_steps.md.j2", 3)


@pytest.mark.parametrize(
    "expression",
    [
        "{{ 1 / 0 }}",
        "{% for i in range(1000000) %}{% endfor %}",
        "{{ [][3] }}",
        "{{ {}['k'] + 1 }}",
        "{{ 'abc'.index('z') }}",
    ],
    ids=["zero-division", "range-too-big", "index", "key", "value-error"],
)
def test_any_runtime_error_becomes_a_render_error(
    catalog: Path, renderer: Renderer, expression: str
) -> None:
    name = write(catalog, "runtime", f"# Title\n{expression}\n")
    with pytest.raises(RenderError) as caught:
        renderer.render_markdown(name, {})
    assert (caught.value.file, caught.value.line) == (name, line_of(catalog, name, expression))


# --- output cap ---------------------------------------------------------------------------------


def test_output_over_the_cap_is_a_render_error(catalog: Path, renderer: Renderer) -> None:
    name = write(catalog, "huge", "# Title\n{% for i in range(500) %}line {{ i }}\n{% endfor %}")
    with pytest.raises(RenderError, match="output exceeds 2000 characters") as caught:
        renderer.render_markdown(name, {})
    assert caught.value.file == name


def test_output_under_the_cap_renders(catalog: Path, renderer: Renderer) -> None:
    name = write(catalog, "fits", "# Title\n{% for i in range(100) %}x{% endfor %}\n")
    # trim_blocks eats the newline after a block tag
    assert renderer.render_markdown(name, {}) == "# Title\n" + "x" * 100


def test_one_huge_expression_is_capped(catalog: Path, renderer: Renderer) -> None:
    name = write(catalog, "onechunk", "{{ 'y' * 5000 }}")
    with pytest.raises(RenderError, match="exceeds"):
        renderer.render_markdown(name, {})


# --- partials ----------------------------------------------------------------------------------


def test_partials_can_be_included_and_imported(catalog: Path, renderer: Renderer) -> None:
    (catalog / "_header.md.j2").write_text("> Team {{ runbook_team }}\n")
    (catalog / "_macros.md.j2").write_text(
        "{% macro step(n, text) %}{{ n }}. {{ text }}{% endmacro %}\n"
        "{% macro probe(path) %}`GET {{ path }}`{% endmacro %}\n"
    )
    body = (
        '{% import "_macros.md.j2" as m %}\n'
        '{% from "_macros.md.j2" import probe %}\n'
        "# Title\n"
        '{% include "_header.md.j2" %}\n'
        "{{ m.step(1, 'Check') }}\n"
        "{{ probe('/api/v1/me') }}\n"
    )
    name = write(catalog, "partials", body)
    out = renderer.render_markdown(name, {"runbook_team": "platform"})
    assert out == "# Title\n> Team platform\n1. Check\n`GET /api/v1/me`\n"


def test_front_matter_is_not_rendered_and_leading_blank_lines_are_stripped(
    catalog: Path, renderer: Renderer
) -> None:
    name = write(catalog, "blank", "\n\n# {{ title }}\n\n---\n\nafter a rule\n")
    out = renderer.render_markdown(name, {"title": "Hello"})
    assert out == "# Hello\n\n---\n\nafter a rule\n"
    assert "class:" not in out


def test_a_file_without_front_matter_renders_whole(catalog: Path, renderer: Renderer) -> None:
    (catalog / "_plain.md.j2").write_text("first\n---\nsecond\n")
    assert renderer.render_markdown("_plain.md.j2", {}) == "first\n---\nsecond\n"


# --- Markdown to HTML ---------------------------------------------------------------------------


def test_to_html_escapes_raw_html(renderer: Renderer) -> None:
    html = renderer.to_html(
        '# Title\n\n<script>alert(1)</script>\n\n"><img src=x onerror=alert(1)>'
    )
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<h1>Title</h1>" in html


@pytest.mark.parametrize(
    "markdown",
    [
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](vbscript:msgbox(1))",
        "[click](data:text/html;base64,PHNjcmlwdD4=)",
        "<javascript:alert(1)>",
        "[click][ref]\n\n[ref]: javascript:alert(1)",
    ],
)
def test_to_html_drops_unsafe_links(renderer: Renderer, markdown: str) -> None:
    html = renderer.to_html(markdown)
    assert "href" not in html
    assert "<a" not in html


def test_to_html_keeps_safe_links_and_tables(renderer: Renderer) -> None:
    html = renderer.to_html(
        "[Grafana](https://grafana.example.com/d/x)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    assert '<a href="https://grafana.example.com/d/x">Grafana</a>' in html
    assert "<table>" in html
    assert "<td>2</td>" in html
