"""The report's charts, drawn by matplotlib and inlined as SVG (no scripts, no CDN)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from peerreview.chair import LeaderboardRow
from peerreview.exam import ExamResult
from peerreview.report.diagnostics import FloatMatrix

plt.rcParams.update({"font.size": 9, "svg.fonttype": "none", "svg.hashsalt": "peerreview",
                     "axes.spines.top": False,
                     "axes.spines.right": False})


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype


def leaderboard_chart(rows: list[LeaderboardRow], label: str) -> str:
    """Each model's score with its bootstrap interval, best at the top."""
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(rows) + 0.9))
    y = np.arange(len(rows))[::-1]
    scores = [r.score for r in rows]
    ax.scatter(scores, y, color="#1f6feb", zorder=3)
    for yi, r in zip(y, rows, strict=True):
        if r.ci_low is not None and r.ci_high is not None:
            ax.plot([r.ci_low, r.ci_high], [yi, yi], color="#1f6feb", lw=2, alpha=0.5)
    ax.set_yticks(y, [r.model for r in rows])
    ax.set_xlabel(label)
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


def exam_chart(results: list[ExamResult], threshold: float) -> str:
    """Exam accuracy per candidate with its interval and the threshold."""
    graded = [r for r in results if r.exam_accuracy is not None]
    graded.sort(key=lambda r: -(r.exam_accuracy or 0))
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(graded) + 0.9))
    y = np.arange(len(graded))[::-1]
    for yi, r in zip(y, graded, strict=True):
        color = "#2da44e" if r.qualified else "#cf222e"
        ax.scatter([float(r.exam_accuracy or 0)], [yi], color=color, zorder=3)
        if r.ci_low is not None and r.ci_high is not None:
            ax.plot([r.ci_low, r.ci_high], [yi, yi], color=color, lw=2, alpha=0.5)
    ax.axvline(threshold, color="#57606a", ls="--", lw=1)
    ax.set_yticks(y, [r.reviewer for r in graded])
    ax.set_xlim(0, 1.02)
    ax.set_xlabel("exam accuracy (green: qualified; dashed: threshold)")
    return _svg(fig)


def heatmap(matrix: FloatMatrix, labels: list[str], title: str, vmin: float,
            vmax: float) -> str:
    """A labelled matrix with its values written in the cells."""
    n = len(labels)
    size = min(9.0, 1.2 + 0.45 * n)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap="RdBu", vmin=vmin, vmax=vmax)
    ax.set_xticks(range(n), labels, rotation=60, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_title(title)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if not np.isnan(matrix[i, j]):
                    ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, shrink=0.8)
    return _svg(fig)
