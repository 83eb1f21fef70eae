"""One sandboxed Jinja2 environment per app, for runbooks and their partials.

Runbook files keep their front matter; the loader blanks it out (line for line) so template
error line numbers are the file's own. Output is capped. Any template problem becomes a
``RenderError`` naming file, line and message: the caller shows it in place of the body,
never a half page or a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from markdown_it import MarkdownIt

from app.errors import DomainError
from app.runbooks.filters import FILTERS

log = logging.getLogger(__name__)

MAX_OUTPUT = 256 * 1024
# What an operator's template code can raise at run time; each is a template error.
TEMPLATE_ERRORS = (
    jinja2.TemplateError,
    SecurityError,
    ArithmeticError,
    LookupError,
    TypeError,
    ValueError,
    AttributeError,
    RecursionError,
)


class RenderError(DomainError):
    """A template failed: where and why (shown on the page, logged once)."""

    code = "render_failed"

    def __init__(self, *, file: str, line: int | None, message: str) -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {message}", hint="fix the template; `runbook-router check`")
        self.file, self.line, self.detail = file, line, message


class _CatalogLoader(jinja2.FileSystemLoader):
    """Reads ``*.md.j2`` with the front matter replaced by as many empty lines."""

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        lines = source.split("\n")
        if lines and lines[0].strip() == "---":
            for index, line in enumerate(lines[1:], start=1):
                if line.strip() == "---":
                    source = "\n" * (index + 1) + "\n".join(lines[index + 1 :])
                    break
        return source, filename, uptodate


class Renderer:
    """Renders runbook Markdown (and turns it into HTML) in a Jinja2 sandbox."""

    def __init__(self, catalog_dir: Path, *, max_output: int = MAX_OUTPUT) -> None:
        self.max_output = max_output
        self.env = SandboxedEnvironment(
            loader=_CatalogLoader(str(catalog_dir)),
            autoescape=False,  # Markdown out; markdown-it escapes HTML (html=False)
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters.update(FILTERS)
        self.markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")

    def render_markdown(self, name: str, context: Mapping[str, Any]) -> str:
        """Render template ``name`` to Markdown, capped at ``max_output`` characters."""
        try:
            template = self.env.get_template(name)
            out: list[str] = []
            size = 0
            for chunk in template.generate(**context):
                size += len(chunk)
                if size > self.max_output:
                    raise RenderError(
                        file=name, line=None, message=f"output exceeds {self.max_output} characters"
                    )
                out.append(chunk)
            return "".join(out).lstrip("\n")
        except jinja2.TemplateSyntaxError as err:
            raise RenderError(
                file=Path(err.filename).name if err.filename else name,
                line=err.lineno,
                message=err.message or "syntax error",
            ) from err
        except jinja2.TemplateNotFound as err:
            raise RenderError(
                file=name, line=None, message=f"template {err.name!r} not found"
            ) from err
        except RenderError:
            raise
        except TEMPLATE_ERRORS as err:
            # Whatever the operator's template code raises is a template error, shown in place.
            message = str(err) or type(err).__name__
            file, line = _where(err, name)
            raise RenderError(file=file, line=line, message=message) from err

    def to_html(self, markdown: str) -> str:
        """Markdown to HTML; raw HTML in the source is escaped, unsafe links are dropped."""
        return str(self.markdown.render(markdown))


def _where(err: BaseException, name: str) -> tuple[str, int | None]:
    """The template file and line of a runtime error, from Jinja's rewritten traceback."""
    tb = err.__traceback__
    where: tuple[str, int | None] = (name, None)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2") or filename == "<template>":
            where = (Path(filename).name if filename.endswith(".j2") else name, tb.tb_lineno)
        tb = tb.tb_next
    return where
