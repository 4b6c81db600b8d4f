"""The report's charts as inline SVG, drawn from a Jinja2 template (no scripts, no
CDN, no plotting library: three simple charts cost a plotting library more than a
second per report). Labels are untrusted text: the template autoescapes them."""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import jinja2

from peerreview.chair import LeaderboardRow
from peerreview.exam.grade import ExamResult
from peerreview.report.diagnostics import FloatMatrix

ROW = 22  # pixels per row
LABEL_CHARS_PX = 6.6  # width of a label character at 11px


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.PackageLoader("peerreview", "report"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    return env.get_template("charts.svg.j2")


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values spanning [low, high]."""
    span = high - low or 1.0
    step = 10 ** math.floor(math.log10(span / count))
    for mult in (1, 2, 5, 10):
        if span / (step * mult) <= count:
            step *= mult
            break
    first = math.ceil(low / step) * step
    return [round(first + k * step, 10) for k in range(int((high - first) / step) + 1)]


def _dots(labels: list[str], values: list[float], lows: list[float | None],
          highs: list[float | None], colors: list[str], xlabel: str,
          bounds: tuple[float, float] | None = None, threshold: float | None = None) -> str:
    """One row per label: a dot at its value and a bar over its interval."""
    finite = [v for v in [*values, *lows, *highs] if v is not None and math.isfinite(v)]
    low, high = bounds or (min(finite, default=0.0), max(finite, default=1.0))
    if high <= low:
        low, high = low - 0.5, high + 0.5
    pad = 0.0 if bounds else (high - low) * 0.05
    low, high = low - pad, high + pad
    left = 12 + LABEL_CHARS_PX * max((len(x) for x in labels), default=4)
    width = 440.0

    def x(v: float) -> float:
        return left + (v - low) / (high - low) * width

    rows = [{"label": lab, "y": 14 + ROW * k, "x": x(v) if math.isfinite(v) else None,
             "lo": x(lo) if lo is not None else None, "hi": x(hi) if hi is not None else None,
             "color": color}
            for k, (lab, v, lo, hi, color) in enumerate(zip(labels, values, lows, highs, colors,
                                                            strict=True))]
    bottom = 14 + ROW * len(labels)
    return _template().module.dots(  # type: ignore[attr-defined,no-any-return]
        rows=rows, left=left, width=width, bottom=bottom, xlabel=xlabel,
        ticks=[{"x": x(t), "label": f"{t:g}"} for t in _ticks(low, high)],
        threshold=None if threshold is None else x(threshold))


def leaderboard_chart(rows: list[LeaderboardRow], label: str) -> str:
    """Each model's score with its bootstrap interval, best at the top."""
    return _dots([r.model for r in rows], [r.score for r in rows], [r.ci_low for r in rows],
                 [r.ci_high for r in rows], ["#1f6feb"] * len(rows), label)


def exam_chart(results: list[ExamResult], threshold: float) -> str:
    """Exam accuracy per candidate with its interval and the threshold."""
    graded = sorted((r for r in results if r.exam_accuracy is not None),
                    key=lambda r: -(r.exam_accuracy or 0))
    return _dots([r.reviewer for r in graded], [float(r.exam_accuracy or 0) for r in graded],
                 [r.ci_low for r in graded], [r.ci_high for r in graded],
                 ["#2da44e" if r.qualified else "#cf222e" for r in graded],
                 "exam accuracy (green: qualified; dashed: threshold)", (0.0, 1.0), threshold)


# RdBu, as in most heatmaps: red low, white middle, blue high.
_STOPS = [(0.0, (178, 24, 43)), (0.5, (247, 247, 247)), (1.0, (33, 102, 172))]


def _color(t: float) -> tuple[str, str]:
    """The fill for a value scaled to [0, 1], and a text colour readable on it."""
    t = min(max(t, 0.0), 1.0)
    (t0, c0), (t1, c1) = (_STOPS[0], _STOPS[1]) if t <= 0.5 else (_STOPS[1], _STOPS[2])
    f = (t - t0) / (t1 - t0)
    rgb = [round(a + (b - a) * f) for a, b in zip(c0, c1, strict=True)]
    luminance = (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) / 255
    return "#{:02x}{:02x}{:02x}".format(*rgb), ("#ffffff" if luminance < 0.55 else "#1f2328")


def heatmap(matrix: FloatMatrix, labels: list[str], title: str, vmin: float,
            vmax: float) -> str:
    """A labelled matrix with its values written in the cells (up to 20 labels)."""
    n = len(labels)
    cell = 34 if n <= 20 else max(4, 600 // max(n, 1))
    left = 12 + LABEL_CHARS_PX * max((len(x) for x in labels), default=4)
    cells: list[dict[str, Any]] = []
    for i in range(n):
        for j in range(n):
            value = float(matrix[i, j])
            if math.isnan(value):
                continue
            fill, ink = _color((value - vmin) / (vmax - vmin))
            cells.append({"x": left + j * cell, "y": 24 + i * cell, "fill": fill, "ink": ink,
                          "text": f"{value:.2f}" if n <= 20 else None})
    return _template().module.heatmap(  # type: ignore[attr-defined,no-any-return]
        labels=labels, cells=cells, cell=cell, left=left, title=title, n=n,
        legend=[{"fill": _color(k / 10)[0], "label": f"{vmin + (vmax - vmin) * k / 10:g}"}
                for k in range(11)])
