"""Small horizontal bar charts as SVG, rendered on the server (no JavaScript, no CDN)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from app.metrics.kpis import KpiReport

WIDTH, ROW, LABEL = 320, 22, 130


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float | None
    text: str
    over_target: bool = False


def bars_svg(title: str, bars: list[Bar], *, target: float | None = None) -> str:
    """One bar per row, scaled to the largest value; a dashed line marks the target."""
    values = [b.value for b in bars if b.value is not None]
    top = max([*values, target or 0.0, 1e-9])
    span = WIDTH - LABEL - 70
    rows = []
    for i, bar in enumerate(bars):
        y = i * ROW + 4
        width = 0 if bar.value is None else max(1.0, bar.value / top * span)
        css = "bar over" if bar.over_target else "bar"
        rows.append(
            f'<text x="0" y="{y + 13}" class="lbl">{escape(bar.label)}</text>'
            f'<rect x="{LABEL}" y="{y}" width="{width:.1f}" height="{ROW - 8}" class="{css}"/>'
            f'<text x="{LABEL + width + 4:.1f}" y="{y + 13}" class="val">{escape(bar.text)}</text>'
        )
    if target is not None:
        x = LABEL + target / top * span
        rows.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{len(bars) * ROW}" class="target"/>'
        )
    height = max(len(bars), 1) * ROW + 4
    return (
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg">{"".join(rows)}</svg>'
    )


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.0f} min"


def for_report(report: KpiReport) -> dict[str, str]:
    """MTTR, MTTA and time to first view (p50) by class; first view against 15 minutes."""
    target = report.first_view_target_seconds
    out = {}
    for key, title in (
        ("mttr", "MTTR (median) by class"),
        ("mtta", "MTTA (median) by class"),
        ("first_view", "Time to first runbook view (median) by class"),
    ):
        bars = []
        for c in report.classes:
            value = getattr(c, key).median_seconds
            over = key == "first_view" and value is not None and value > target
            bars.append(Bar(c.runbook_class, value, _minutes(value), over))
        out[key] = bars_svg(title, bars, target=target if key == "first_view" else None)
    return out
