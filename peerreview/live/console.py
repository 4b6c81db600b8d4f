"""The terminal: rich tables, and the one stderr console for notices and progress.

Every name and message from outside (data files, configs, models, endpoints) goes
through :func:`plain`: a rich ``Text`` with control characters shown escaped, never
read as markup or emoji codes.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from peerreview.errors import InputError
from peerreview.text import inert

if TYPE_CHECKING:
    from peerreview.exam.grade import ExamResult
    from peerreview.labels.export import LabelStats
    from peerreview.live.plan import PlannedCalls
    from peerreview.ranking import RankResult

# One console for progress bars, notices and log lines. Off a terminal (a CI log, a
# file) a line is never broken at 80 columns: a path or a "file:line" stays whole
# for grep.
STDERR = Console(stderr=True, soft_wrap=not sys.stderr.isatty())


def plain(value: object, style: str = "", *, lines: bool = False) -> Text:
    """Outside text to print: control characters shown escaped, never markup.

    Args:
        value: a name, an answer, an error message; shown as ``str(value)``.
        style: a rich style for the whole text.
        lines: keep tabs and newlines (a message); else the text stays on one line.
    """
    return Text(inert(value, lines=lines), style=style)


def notice(console: Console, label: str, message: object, style: str = "yellow") -> None:
    """A ``label:`` in ``style``, then a message with outside text in it, inert."""
    console.print(Text.assemble((f"{label}:", style), " ", plain(message, lines=True)))


class ConsoleHandler(logging.Handler):
    """Log records printed through :data:`STDERR`, so they appear above live bars.

    Log messages carry names and error bodies from outside: printed inert."""

    def emit(self, record: logging.LogRecord) -> None:
        STDERR.print(plain(f"{record.levelname.lower()}: {self.format(record)}", lines=True),
                     soft_wrap=True)


def _num(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def exam_table(results: list[ExamResult], threshold: float | None = None) -> Table:
    """The qualification exam, one row per reviewer candidate."""
    title = "Qualification exam" + ("" if threshold is None else
                                    f" (qualifies at accuracy >= {threshold:.2f})")
    table = Table(title=title, title_justify="left")
    for col in ("reviewer", "exam acc.", "95% CI", "items", "kappa", "pos. consist.",
                "latent", "unreadable", "qualified", "weight"):
        table.add_column(col, justify="left" if col == "reviewer" else "right")
    for r in sorted(results, key=lambda r: (-(r.qualification_score or 0), r.reviewer)):
        ci = "–" if r.ci_low is None else f"{r.ci_low:.2f}–{r.ci_high:.2f}"
        table.add_row(plain(r.reviewer), _num(r.exam_accuracy), ci,
                      "–" if r.exam_items is None else str(r.exam_items), _num(r.kappa, 2),
                      _num(r.position_consistency, 2), _num(r.latent_reliability),
                      f"{r.abstentions}/{r.judgments}"
                      + (f" ({r.abstentions / r.judgments:.0%})" if r.judgments else ""),
                      "[green]yes[/]" if r.qualified else "[red]no[/]", _num(r.weight))
    return table


def label_tables(stats: LabelStats) -> Group:
    """What ``label-export`` found: per stratum, per annotator, between annotators."""
    strata = Table(title="Labels per stratum", title_justify="left")
    for col in ("stratum", "labels", "ties"):
        strata.add_column(col, justify="left" if col == "stratum" else "right")
    for h, (n, ties) in stats.strata.items():
        strata.add_row(plain(h), str(n), str(ties))
    people = Table(title="Annotators", title_justify="left")
    for col in ("annotator", "labels", "skipped", "tie rate", "left-pick rate",
                "self-agreement (repeats)"):
        people.add_column(col, justify="left" if col == "annotator" else "right")
    for a in stats.annotators:
        people.add_row(plain(a.annotator), str(a.labels), str(a.skipped), _num(a.tie_rate, 2),
                       _num(a.left_rate, 2), f"{_num(a.self_agreement, 2)} ({a.repeats})")
    parts: list[Table] = [strata, people]
    if stats.kappa:
        between = Table(title="Between annotators", title_justify="left")
        for col in ("annotators", "shared units", "Cohen's kappa"):
            between.add_column(col, justify="left" if col == "annotators" else "right")
        for (x, y), (kappa, n) in stats.kappa.items():
            between.add_row(plain(f"{x} / {y}"), str(n), _num(kappa, 2))
        parts.append(between)
    return Group(*parts)


def leaderboard_table(result: RankResult) -> Table:
    """The chair's ranking."""
    table = Table(title=f"Leaderboard (chair: {result.method})", title_justify="left")
    for col in ("rank", "model", "score", "95% CI", "rank CI"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for row in result.leaderboard:
        ci = "–" if row.ci_low is None or row.ci_high is None else \
            f"{row.ci_low:.3f}–{row.ci_high:.3f}"
        rank_ci = "–" if row.rank_low is None else f"{row.rank_low}–{row.rank_high}"
        table.add_row(str(row.rank), plain(row.model), f"{row.score:.4g}", ci, rank_ci)
    return table


def agreement_table(result: RankResult) -> Table:
    """Panel versus every single reviewer, against gold."""
    table = Table(title="Agreement with human gold", title_justify="left")
    for col in ("ranked by", "pairwise acc.", "gold pairs", "Kendall tau", "Spearman",
                "item Spearman"):
        table.add_column(col, justify="left" if col == "ranked by" else "right")
    a = result.agreement
    assert a is not None
    table.add_row("[bold]panel[/]", f"[bold]{a.pairwise_accuracy:.3f}[/]", str(a.pairs),
                  _num(a.kendall_tau), _num(a.spearman), _num(a.item_spearman))
    for s in sorted(result.reviewer_agreement, key=lambda s: -s.agreement.pairwise_accuracy):
        g = s.agreement
        table.add_row(plain(s.reviewer), f"{g.pairwise_accuracy:.3f}", str(g.pairs),
                      _num(g.kendall_tau), _num(g.spearman), _num(g.item_spearman))
    return table


def print_rank(result: RankResult, console: Console, threshold: float | None = None) -> None:
    """Everything ``rank`` has to say."""
    console.print(exam_table(result.exam, threshold))
    console.print(leaderboard_table(result))
    if result.agreement is not None:
        console.print(agreement_table(result))


def plan_table(rows: list[PlannedCalls], *, expected: bool = False) -> Table:
    """What ``--dry-run`` prints; ``expected``: the review's rows are a cascade's (or the
    adaptive schedule's) expected calls, not a count."""
    said = "; the review's calls expected, not counted" if expected else ""
    table = Table(title=f"Planned calls (review: every candidate qualifies{said})",
                  title_justify="left")
    for col in ("model", "stage", "calls", "prompt tok.", "completion tok.", "est. cost"):
        table.add_column(col, justify="left" if col in ("model", "stage") else "right")
    for r in rows:
        table.add_row(plain(r.model), r.stage, f"{r.calls:,}", f"{r.prompt_tokens:,}",
                      f"{r.completion_tokens:,}", f"${r.cost_usd:.4f}")
    total = sum(r.calls for r in rows)
    table.add_row("[bold]total[/]", "", f"[bold]{total:,}[/]",
                  f"{sum(r.prompt_tokens for r in rows):,}",
                  f"{sum(r.completion_tokens for r in rows):,}",
                  f"[bold]${sum(r.cost_usd for r in rows):.4f}[/]")
    return table


def status_table(run_dir: str | Path) -> Table | Group:
    """What ``peerreview status DIR`` prints: per model and over the run, and per
    replica for a model that several serve."""
    from peerreview.calls.store import RunStore

    path = Path(run_dir) / "run.sqlite"
    if not path.exists():
        raise InputError(f"no run store here ({path} does not exist)", run_dir)
    with RunStore(path) as store:
        per_model = store.per_model()
        per_endpoint = store.per_endpoint()
        facts = store.facts()
    done = "finished" if (Path(run_dir) / "leaderboard.json").exists() else "not finished"
    stages = ", ".join(f"{k.removeprefix('stage.')} {v['done']}/{v['total']}"
                       for k, v in sorted(facts.items()) if k.startswith("stage."))
    table = Table(title=plain(f"Run {run_dir}: {done}" + (f"; {stages}" if stages else ""),
                              "table.title"),
                  title_justify="left")
    for col in ("model", "provider", "calls", "failed", "prompt tok.", "completion tok.",
                "cost", "mean latency (incl. queue)"):
        table.add_column(col, justify="left" if col in ("model", "provider") else "right")
    for row in per_model:
        table.add_row(plain(row["model"]), plain(row["provider"]), f"{row['calls']:,}",
                      str(row["failed"]),
                      f"{row['prompt_tokens']:,}", f"{row['completion_tokens']:,}",
                      f"${row['cost_usd']:.4f}", f"{row['latency_s']:.3f} s")
    served = [r["model"] for r in per_endpoint]
    several = [r for r in per_endpoint if served.count(r["model"]) > 1]
    if not several:
        return table
    replicas = Table(title="Calls answered per replica", title_justify="left")
    for col in ("model", "replica", "calls"):
        replicas.add_column(col, justify="right" if col == "calls" else "left")
    for row in several:
        replicas.add_row(plain(row["model"]), plain(row["endpoint"]), f"{row['calls']:,}")
    return Group(table, replicas)
