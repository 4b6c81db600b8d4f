"""Style control: Bradley-Terry with covariates against an independent Newton fit of
arena's formula, style counts and normalized differences by hand, and rank's wiring."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from peerreview.chair import BradleyTerryChair, gather_evidence
from peerreview.chair.style import (
    fit_with_covariates,
    normalized_differences,
    parse_control,
    style_control,
    style_counts,
    submission_features,
)
from peerreview.errors import InputError
from peerreview.ranking import RankOptions, rank
from peerreview.records.exchange import Submission, parse_judgment
from peerreview.records.study import study_of
from peerreview.records.table import build_table
from tests.conftest import pw


def newton_logistic(design: np.ndarray, wins: np.ndarray, losses: np.ndarray,
                    reg: float) -> np.ndarray:
    """Arena's style-control fit written apart: logistic regression on model indicators
    (+1 a, -1 b) and covariates, minimizing -loglik + reg/2 |params|^2, by Newton's method."""
    params = np.zeros(design.shape[1])
    for _ in range(100):
        z = design @ params
        p = 1.0 / (1.0 + np.exp(-z))
        grad = -design.T @ (wins - (wins + losses) * p) + reg * params
        hess = design.T @ (design * ((wins + losses) * p * (1 - p))[:, None]) + \
            reg * np.eye(design.shape[1])
        params -= np.linalg.solve(hess, grad)
    return params


def test_fit_equals_newton_on_a_tiny_table() -> None:
    a = np.array([0, 0, 1, 0, 1, 2])
    b = np.array([1, 2, 2, 1, 2, 0])
    x = np.array([[0.5, 0.0], [-0.2, 1.0], [0.1, -0.5], [-0.4, 0.3], [0.0, 0.0], [0.3, 0.2]])
    wins = np.array([3.0, 1.0, 2.0, 1.0, 2.0, 1.0])
    losses = np.array([1.0, 2.0, 2.0, 3.0, 1.0, 1.0])
    theta, beta = fit_with_covariates(a, b, x, wins, losses, 3, reg=0.1)
    design = np.zeros((6, 5))
    design[np.arange(6), a] = 1.0
    design[np.arange(6), b] = -1.0
    design[:, 3:] = x
    expected = newton_logistic(design, wins, losses, 0.1)
    assert theta == pytest.approx(expected[:3] - expected[:3].mean(), abs=1e-6)
    assert beta == pytest.approx(expected[3:], abs=1e-6)


def test_style_counts_by_hand() -> None:
    text = "# Title\nSome text\n- one\n* two\n3. three\n**bold** and __also__ and **x**"
    assert style_counts(text) == (float(len(text)), 1.0, 3.0, 3.0)
    assert style_counts("no markdown #here") == (17.0, 0.0, 0.0, 0.0)


def test_normalized_differences_by_hand() -> None:
    features = np.full((1, 3, 4), np.nan)
    features[0, 0] = [10, 1, 0, 0]
    features[0, 1] = [30, 0, 0, 0]
    item, a, b = np.array([0, 0]), np.array([0, 0]), np.array([1, 2])
    x, unknown = normalized_differences(features, item, a, b, ("length", "headers", "bold"))
    # (10 - 30) / 40, (1 - 0) / 1, both 0 -> 0; model 2 has no submission -> zeros.
    assert x.tolist() == [[-0.5, 1.0, 0.0], [0.0, 0.0, 0.0]]
    assert unknown.tolist() == [1]


def test_parse_control() -> None:
    assert parse_control("length") == ("length",)
    assert parse_control("length, markdown") == ("length", "markdown")
    with pytest.raises(InputError) as err:
        parse_control("length,colour")
    assert err.value.field == "--control" and "colour" in err.value.message


def padded_study(n_items: int = 40) -> tuple[list[dict[str, object]], list[Submission]]:
    """A and its padded twin B (the same content, 0 to 3 sentences longer), and C,
    judged by a reviewer who prefers the longer of A and B exactly when the padding
    is at least one sentence, and ranks C below both."""
    rows, subs = [], []
    pad = " This answer is offered in good faith."
    for t in range(n_items):
        extra = t % 4
        subs += [Submission(f"q{t}", "A", "good answer"),
                 Submission(f"q{t}", "B", "good answer" + pad * extra),
                 Submission(f"q{t}", "C", "bad")]
        for first, second in (("A", "B"), ("B", "A")):
            winner = "tie" if extra == 0 else ("first" if first == "B" else "second")
            rows.append(pw(f"q{t}", "judge", first, second, winner))
        for m in ("A", "B"):
            rows.append(pw(f"q{t}", "judge", m, "C", "first" if t % 5 else "second"))
    return rows, subs


def test_padding_is_explained_by_length() -> None:
    rows, subs = padded_study()
    table = build_table([parse_judgment(r, None, k) for k, r in enumerate(rows)])  # type: ignore[arg-type]
    evidence = gather_evidence(table, np.ones(1), by_mean=False)
    style = style_control(evidence, submission_features(table, subs), ("length",),
                          n_boot=20, seed=1)
    board = {row.model: row.score for row in style.leaderboard}
    plain = BradleyTerryChair().scores(evidence)  # uncontrolled: B beats A on 30 of 40
    assert np.log(plain[1] / plain[0]) > 1.0
    assert abs(np.log(board["B"] / board["A"])) < 0.15  # controlled: A and B tie
    (length,) = style.coefficients
    assert length.feature == "length" and length.beta > 1.0
    assert length.ci_low is not None and length.ci_high is not None
    assert length.ci_low <= length.beta <= length.ci_high


def test_rank_writes_style_json_and_needs_submissions() -> None:
    rows, subs = padded_study(8)
    records = [parse_judgment(r, Path("<t>"), k) for k, r in enumerate(rows)]
    result = rank(study_of(records, submissions=subs),
                  options=RankOptions(method="bradley-terry", control=("length",)))
    assert result.style is not None
    files = result.files()
    assert "style.json" in files
    plain = rank(study_of(records, submissions=subs),
                 options=RankOptions(method="bradley-terry"))
    assert "style.json" not in plain.files()
    with pytest.raises(InputError) as err:
        rank(study_of(records), options=RankOptions(control=("length",)))
    assert err.value.field == "--submissions"


def test_report_shows_both_leaderboards_and_the_coefficient() -> None:
    import re

    from peerreview.report import ReportInputs, render

    rows, subs = padded_study(8)
    records = [parse_judgment(r, Path("<t>"), k) for k, r in enumerate(rows)]
    result = rank(study_of(records, submissions=subs),
                  options=RankOptions(method="bradley-terry", control=("length",),
                                      bootstrap=20))
    assert result.style is not None
    html = b"".join(render(ReportInputs(result, title="t"))["report.html"]).decode()
    table = html[html.index('id="style-table"'):html.index('id="style-coefficients"')]
    shown = re.findall(r'<td class="l">(\w)</td><td>([\d.]+)</td><td>(\d)</td><td>([\d.]+)</td>',
                       table)
    controlled = {row.model: row for row in result.style.leaderboard}
    assert [(m, int(r)) for m, _, r, _ in shown] == \
        [(row.model, controlled[row.model].rank) for row in result.leaderboard]
    assert [float(s) for *_, s in shown] == \
        pytest.approx([controlled[row.model].score for row in result.leaderboard], abs=1e-4)
    (coefficient,) = result.style.coefficients
    assert f"<td>{coefficient.beta:.3f}</td>" in html


def test_a_constant_difference_is_noted() -> None:
    records = [parse_judgment(pw(f"t{t}", "r", "A", "B", "first"), Path("<t>"), t)
               for t in range(4)]
    subs = [Submission(f"t{t}", m, "x" * n) for t in range(4) for m, n in (("A", 10),
                                                                           ("B", 30))]
    result = rank(study_of(records, submissions=subs), options=RankOptions(control=("length",)))
    assert any("length difference is the same in every vote" in n for n in result.notes)


def test_cli_control_needs_submissions(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from peerreview.cli import main
    from tests.conftest import write_jsonl

    rows, subs = padded_study(4)
    judgments = write_jsonl(tmp_path / "j.jsonl", rows)
    assert main(["rank", "--judgments", str(judgments), "--out", str(tmp_path / "o"),
                 "--control", "length", "--quiet"]) == 2
    assert "--submissions" in capsys.readouterr().err
    assert main(["rank", "--judgments", str(judgments), "--out", str(tmp_path / "o"),
                 "--control", "colour", "--quiet"]) == 2
    assert "'--control'" in capsys.readouterr().err
    texts = write_jsonl(tmp_path / "s.jsonl", [{"item": s.item, "model": s.model,
                                                "output": s.output} for s in subs])
    assert main(["rank", "--judgments", str(judgments), "--out", str(tmp_path / "o"),
                 "--control", "length,markdown", "--submissions", str(texts),
                 "--quiet"]) == 0
    style = json.loads((tmp_path / "o" / "style.json").read_text())
    assert [c["feature"] for c in style["coefficients"]] == ["length", "headers",
                                                             "list_items", "bold"]
