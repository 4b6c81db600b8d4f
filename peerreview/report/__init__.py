"""The report: one self-contained HTML page (report.html) and a summary.md.

Tables are rendered by Jinja2 with autoescaping; charts are SVG from a template; the
item browser is a small inline script that builds its rows with ``textContent``
from a JSON island, so model text shows as text and never runs.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import numpy as np
import orjson

from peerreview.records.readable import Unreadable, unreadable_reviewers
from peerreview.records.study import Study
from peerreview.report import charts
from peerreview.report.browser import browser_data
from peerreview.report.diagnostics import biases, kappa_matrix, win_matrix
from peerreview.report.document import report_document
from peerreview.text import inert

if TYPE_CHECKING:  # the report draws a ranking; it never makes one
    from peerreview.exam.grade import ExamResult
    from peerreview.output import Content
    from peerreview.ranking import RankResult


@dataclass(slots=True)
class ReportInputs:
    """What a report shows: the ranking, whose study holds every judgment, the gold
    and where known the texts behind it; and the facts of the run."""

    result: RankResult
    title: str = "peerreview report"
    threshold: float = 0.6
    facts: dict[str, Any] = field(default_factory=dict)


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("peerreview", "report"),
                             autoescape=jinja2.select_autoescape(("html.j2",),
                                                                 default_for_string=False,
                                                                 default=False),
                             undefined=jinja2.StrictUndefined)
    env.filters["num"] = lambda x, d=3: "–" if x is None or x != x else f"{x:.{d}f}"
    env.filters["md"] = markdown_text
    env.filters["share"] = lambda r: "–" if not r.judgments else \
        f"{r.abstentions}/{r.judgments} ({r.abstentions / r.judgments:.0%})"
    return env


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def markdown_text(value: object) -> str:
    """Untrusted text (a model or reviewer name) as inert Markdown on one line: HTML
    escaped, Markdown's emphasis, link, code and table characters backslash-escaped,
    line breaks folded to spaces, other control characters written as visible escapes
    (``\\x1b``) and lone surrogates as U+FFFD."""
    text = html.escape(inert(" ".join(str(value).split())), quote=False)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _qualified_by(result: RankResult) -> str:
    if any(r.exam_accuracy is not None for r in result.exam):
        return "PRE's exam against human gold"
    scores = {r.reviewer: r.qualification_score for r in result.exam}
    if any(v is not None for v in scores.values()):
        latent = all(r.qualification_score == r.latent_reliability for r in result.exam)
        return "latent reliability (no labels)" if latent else \
            "consistency across the two orders (no labels)"
    return "nobody dropped: every reviewer with equal weight"


def _json_island(data: Any) -> str:
    """JSON safe inside a <script> element: no '<' can close it or open a comment."""
    # Replaced in the bytes ("<" is one byte in UTF-8, never inside another
    # character), then decoded once: a big island is held twice at most, not three times.
    return orjson.dumps(data).replace(b"<", b"\\u003c").decode()


def render(inputs: ReportInputs) -> dict[str, Content]:
    """report.html and summary.md for a ranking, and report.json: what they draw of
    it, from which ``report DIR`` draws them again without ranking. report.html is
    chunks rendered as they are read (once, by :func:`peerreview.output.write_files`)."""

    result = inputs.result
    study = result.study or Study(result.table)
    table = result.evidence.table
    full = study.table
    gold = study.gold or study.exam_gold
    lengths = {(s.item, s.model): len(s.output) for s in study.submissions}
    consistency = {r.reviewer: r.position_consistency for r in result.exam}
    bias = biases(full, lengths, consistency, result.bootstrap)
    kappa = kappa_matrix(full)
    wins = win_matrix(result.evidence.verdicts, len(table.models))
    singles = result.rankings  # ranked once, by rank(): the report ranks nothing
    order = [table.models.index(row.model) for row in result.leaderboard]
    score_label = {"vote": "share of pairs won", "mean": "mean weighted score",
                   "bradley-terry": "Bradley-Terry strength (log)", "elo": "Elo rating",
                   "peer-rank": "peer-rank score"}.get(result.method, "score")
    has_exam = any(r.exam_accuracy is not None for r in result.exam)
    context = {
        "title": inputs.title, "result": result, "facts": inputs.facts, "bias": bias,
        "n_items": len(set(result.evidence.verdicts.item.tolist())),
        "singles": singles, "has_exam": has_exam, "threshold": inputs.threshold,
        "qualified_by": _qualified_by(result),
        "unreadable": unreadable_reviewers(result.exam, full),
        "model_rank": {row.model: row.rank for row in result.leaderboard},
        "models": table.models,
        "leaderboard_svg": charts.leaderboard_chart(result.leaderboard, score_label),
        "exam_svg": charts.exam_chart(result.exam, inputs.threshold) if has_exam else "",
        "kappa_svg": charts.heatmap(kappa, full.reviewers, "Cohen's kappa between reviewers",
                                    -1, 1) if len(full.reviewers) > 1 else "",
        "wins_svg": charts.heatmap(wins[np.ix_(order, order)],
                                   [table.models[i] for i in order],
                                   "share of items row beat column (chair)", 0, 1),
        "browser_json": _json_island(browser_data(
            result, full, study.items, study.submissions, gold.pairs if gold else {})),
    }
    env = _env()
    md = env.get_template("summary.md.j2").render(**context)
    return {"report.html": _encoded(env.get_template("report.html.j2").generate(**context)),
            "summary.md": md.encode(), "report.json": report_document(result)}


def _encoded(chunks: Iterator[str], size: int = 1 << 20) -> Iterator[bytes]:
    """A page rendered as it is written, about ``size`` characters a chunk: a
    million-call run's page (50 MB, most of it the browser's JSON island) is never
    held whole, as text or as bytes, nor its island copied."""
    batch: list[str] = []
    held = 0
    for chunk in chunks:
        if len(chunk) >= size:  # the island: encoded a slice at a time, never joined
            if held:
                yield "".join(batch).encode()
            batch, held = [], 0
            for start in range(0, len(chunk), size):
                yield chunk[start:start + size].encode()
            continue
        batch.append(chunk)
        held += len(chunk)
        if held >= size:
            yield "".join(batch).encode()
            batch, held = [], 0
    if held:
        yield "".join(batch).encode()


@dataclass(slots=True)
class UnrankedInputs:
    """What the report of a run or rank that ranked nothing shows: why, the exam as
    far as it went, the reviewers that could not be read, and the run's facts."""

    why: str
    exam: list[ExamResult]
    unreadable: list[Unreadable]
    title: str = "peerreview report"
    threshold: float | None = None  # None: there was no exam
    facts: dict[str, Any] = field(default_factory=dict)


def render_unranked(inputs: UnrankedInputs) -> dict[str, bytes]:
    """report.html and summary.md of an ending without a ranking."""
    context = {"title": inputs.title, "why": inputs.why, "facts": inputs.facts,
               "exam": sorted(inputs.exam, key=lambda r: r.reviewer),
               "has_exam": any(r.exam_accuracy is not None for r in inputs.exam),
               "threshold": inputs.threshold, "unreadable": inputs.unreadable}
    env = _env()
    return {"report.html": env.get_template("unranked.html.j2").render(**context).encode(),
            "summary.md": env.get_template("unranked.md.j2").render(**context).encode()}


def write_report(inputs: ReportInputs, out_dir: str | Path) -> None:
    """Write report.html, summary.md and report.json into ``out_dir``, all or nothing."""
    from peerreview.output import write_files
    write_files(out_dir, render(inputs), whole_set=False)
