"""--calibrate-bias: the exam's excess bias per reviewer against an independent Newton
fit, the offsets by hand, and rank's wiring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peerreview.chair import gather_evidence
from peerreview.chair.excess_bias import ExcessBias, bias_offsets, exam_bias
from peerreview.chair.style import submission_features, with_offset
from peerreview.errors import InputError
from peerreview.ranking import RankOptions, rank
from peerreview.records.exchange import Submission, parse_judgment
from peerreview.records.gold import Gold
from peerreview.records.study import study_of
from peerreview.records.table import build_table
from tests.chair.test_style import newton_logistic
from tests.conftest import pw


def a_longer(t: int) -> bool:
    """A is three times B's length on 8 exam items, a third of it on the other 4."""
    return t % 3 != 0


# On every exam item humans prefer A (so they like length: A is mostly the longer).
SUBS = [Submission(f"e{t}", m, "x" * n) for t in range(12)
        for m, n in (("A", 30 if a_longer(t) else 10), ("B", 10 if a_longer(t) else 30))]


def exam_rows() -> list[dict[str, object]]:
    """A reviewer that picks the longer answer on 8 of 12 items and the first shown on
    the rest, in both orders."""
    rows = []
    for t in range(12):
        if t < 8:
            longer_first = "first" if a_longer(t) else "second"  # A is shown first
            rows += [pw(f"e{t}", "judge", "A", "B", longer_first),
                     pw(f"e{t}", "judge", "B", "A",
                        "second" if longer_first == "first" else "first")]
        else:
            rows += [pw(f"e{t}", "judge", "A", "B", "first"),
                     pw(f"e{t}", "judge", "B", "A", "first")]
    return rows


def test_excess_equals_newton_fit() -> None:
    table = build_table([parse_judgment(r, Path("<t>"), k)  # type: ignore[arg-type]
                         for k, r in enumerate(exam_rows())])
    gold = Gold({(f"e{t}", "A", "B"): 1 for t in range(12)}, {})
    (bias,) = exam_bias(table, gold, submission_features(table, SUBS))
    votes = table.votes()
    t = np.array([int(table.items[i][1:]) for i in votes.item])
    x = np.where(t % 3 != 0, 0.5, -0.5)  # a is A: (30 - 10) / 40 where A is longer
    p = np.where(votes.a_first == 1, 1.0, -1.0)
    won = (votes.vote > 0).astype(float)
    own = newton_logistic(np.column_stack([x, p]), won, 1 - won, 0.1)
    ones = np.ones(len(votes))  # the humans prefer a (A) on every row
    human = newton_logistic(x[:, None], ones, 1 - ones, 0.1)
    assert human[0] > 0.5  # the humans' own taste for length, taken out of the excess
    assert bias.length == pytest.approx(own[0] - human[0], abs=1e-5)
    assert bias.position == pytest.approx(own[1], abs=1e-5)
    assert bias.length > 0 and bias.position > 0  # toward the longer and the first
    assert bias.votes == 24


def test_offsets_and_verdicts_by_hand() -> None:
    rows = [pw("t1", "judge", "A", "B", "second"), pw("t1", "judge", "B", "A", "first")]
    table = build_table([parse_judgment(r, Path("<t>"), k)  # type: ignore[arg-type]
                         for k, r in enumerate(rows)])
    subs = [Submission("t1", "A", "x" * 10), Submission("t1", "B", "x" * 30)]
    features = submission_features(table, subs)
    bias = [ExcessBias("judge", length=-2.0, position=0.5, votes=10)]
    offset = bias_offsets(table.votes(), bias, table.reviewers, features)
    # x = -0.5 for both; a shown first in the first vote (+0.5), second in the other.
    assert offset.tolist() == pytest.approx([np.tanh(0.5 * (1.0 + 0.5)),
                                             np.tanh(0.5 * (1.0 - 0.5))])
    evidence = gather_evidence(table, np.ones(1), by_mean=False)
    fixed = with_offset(evidence, offset)
    assert fixed.verdicts.margin.tolist() == pytest.approx([-2.0 - offset.sum()])


def test_rank_calibrates_and_says_what_it_needs() -> None:
    # Review items: B is longer and the judge picks the first shown in both orders, a
    # tie; removing its measured taste for length tips each item to A.
    review = [pw(f"r{t}", "judge", *order, "first") for t in range(6)
              for order in (("A", "B"), ("B", "A"))]
    subs = SUBS + [Submission(f"r{t}", m, "x" * n) for t in range(6)
                   for m, n in (("A", 10), ("B", 30))]
    records = [parse_judgment(r, Path("<t>"), k)  # type: ignore[arg-type]
               for k, r in enumerate(exam_rows() + review)]
    gold = Gold({(f"e{t}", "A", "B"): 1 for t in range(12)}, {})
    opts = {"threshold": 0.0, "exclude_exam_items": True}
    plain = rank(study_of(records, exam_gold=gold, submissions=subs),
                 options=RankOptions(**opts))  # type: ignore[arg-type]
    fixed = rank(study_of(records, exam_gold=gold, submissions=subs),
                 options=RankOptions(calibrate_bias=True, **opts))  # type: ignore[arg-type]
    assert plain.evidence.verdicts.margin.tolist() == [0.0] * 6
    assert (fixed.evidence.verdicts.margin > 0).all()
    assert fixed.leaderboard[0].model == "A" and fixed.leaderboard[0].score == 1.0
    assert fixed.bias is not None and "bias.json" in fixed.files()
    from peerreview.report import ReportInputs, render

    (judge,) = fixed.bias
    html = b"".join(render(ReportInputs(fixed, title="t"))["report.html"]).decode()
    assert (f'<td class="l">judge</td><td>{judge.length:.2f}</td><td>{judge.position:.2f}</td>'
            f"<td>{judge.votes}</td>") in html
    assert "bias.json" not in plain.files()
    with pytest.raises(InputError) as err:
        rank(study_of(records), options=RankOptions(calibrate_bias=True))
    assert err.value.field == "--exam-gold"
