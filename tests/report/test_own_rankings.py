"""Each reviewer's own ranking is ranked once, by rank(), as the panel counts votes; the
report draws it and ranks nothing."""

from __future__ import annotations

import re

from peerreview.ranking import RankOptions, rank
from peerreview.report import ReportInputs, render
from tests.conftest import pw


def _strong(record: dict[str, object]) -> dict[str, object]:
    return {**record, "strength": 2}


# On t1 reviewer r says A >> B (strong) shown A first and B > A shown B first: counted as
# the panel counts (a strong verdict 3 times) A wins t1 (+3 - 1); once each, a tie.
JUDGMENTS = [_strong(pw("t1", "r", "A", "B", "first")), pw("t1", "r", "B", "A", "first"),
             pw("t1", "s", "A", "B", "first"), pw("t1", "s", "B", "A", "second")]


def _by_columns(html: str) -> dict[str, list[int]]:
    """The leaderboard's "by X" columns, per model, from the page."""
    table = html[html.index('id="leaderboard-table"'):]
    table = table[:table.index("</table>")]
    rows = re.findall(r'<tr><td>\d+</td><td class="l">([^<]*)</td>(.*?)</tr>', table, re.S)
    return {model: [int(x) for x in re.findall(r"<td>(\d+)</td>", rest)]
            for model, rest in rows}


def test_own_rankings_count_strong_verdicts_as_the_panel_does() -> None:
    result = rank(JUDGMENTS)
    assert result.rankings == {"r": {"A": 1, "B": 2}, "s": {"A": 1, "B": 2}}
    once = rank(JUDGMENTS, options=RankOptions(strength=1))
    assert once.rankings == {"r": {"A": 1, "B": 1}, "s": {"A": 1, "B": 2}}  # r: a tie


def test_the_report_draws_the_rankings_rank_made() -> None:
    result = rank(JUDGMENTS)
    html = b"".join(render(ReportInputs(result))["report.html"]).decode()
    assert re.findall(r"<th>by ([^<]*)</th>", html) == ["r", "s"]
    assert _by_columns(html) == {"A": [1, 1], "B": [2, 2]}
    result.rankings = {"s": {"A": 2, "B": 1}}  # whatever rank() said, the report shows
    html = b"".join(render(ReportInputs(result))["report.html"]).decode()
    assert _by_columns(html) == {"A": [2], "B": [1]}
