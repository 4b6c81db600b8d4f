"""PPI++ against worked examples computed by hand, and against ppi_py's formulas.

The worked example (n = 4 labelled of N = 8):
  y = 1 0 1 1, f on them = .8 .2 .6 1, f on the other four = .4 .6 .8 .2
  mean f_all = 4.6/8 = .575; theta1 = .575 + mean(y - f) = .575 + .1 = .675
  cov_n(y, f) = (.25*.15 + .75*.45 - .25*.05 + .25*.35)/4 = .45/4 = .1125
  var(f_labelled ++ f_all) (12 values, mean .6) = .96/11
  lam = .1125 / ((1 + 4/8) * .96/11) = 55/64 = .859375
  theta = lam*.575 + .75 - lam*.65 = .75 - .075*lam = .685546875
  with r = y - lam f, sums of squares and products about the means:
  SS(r) = 4 (.1875 - 2 lam .1125 + lam^2 .0875); SS(f_all) = .595; SP(f, r) = 4 (.1125 - lam .0875)
  var = SS(r)/3/4 + lam^2 (.595/7)/8 + 2 lam (SP(f, r)/3)/8; interval: t with 3 degrees of freedom
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from peerreview.chair.ppi import Estimate, PPIRow, power_lambda, ppi_mean, ppi_rows
from peerreview.errors import InputError
from peerreview.ranking import RankOptions, rank
from tests.conftest import pw, write_jsonl

T3 = 3.182446305284263  # Student's t, 3 degrees of freedom, 97.5%
Y = np.array([1.0, 0.0, 1.0, 1.0])
F_LAB = np.array([0.8, 0.2, 0.6, 1.0])
F_ALL = np.concatenate([F_LAB, [0.4, 0.6, 0.8, 0.2]])


def test_lambda_and_interval_match_the_hand_computation() -> None:
    lam = 55 / 64
    assert power_lambda(Y, F_LAB, F_ALL) == pytest.approx(lam, abs=1e-12)
    est, used = ppi_mean(Y, F_LAB, F_ALL)
    assert used == pytest.approx(lam, abs=1e-12)
    assert est.score == pytest.approx(0.685546875, abs=1e-12)
    ss_r = 4 * (0.1875 - 2 * lam * 0.1125 + lam ** 2 * 0.0875)
    sp = 4 * (0.1125 - lam * 0.0875)
    var = ss_r / 3 / 4 + lam ** 2 * (0.595 / 7) / 8 + 2 * lam * (sp / 3) / 8
    assert est.se == pytest.approx(math.sqrt(var), abs=1e-12)
    assert (est.ci_low, est.ci_high) == pytest.approx(
        (0.685546875 - T3 * math.sqrt(var), 0.685546875 + T3 * math.sqrt(var)), abs=1e-9)


def test_lambda_zero_is_the_gold_alone_and_one_is_plain_ppi() -> None:
    gold, _ = ppi_mean(Y, F_LAB, F_ALL, lam=0.0)
    assert gold.score == 0.75 and gold.se == pytest.approx(math.sqrt(0.1875 * 4 / 3 / 4))
    plain, _ = ppi_mean(Y, F_LAB, F_ALL, lam=1.0)
    assert plain.score == pytest.approx(0.575 + 0.1)  # mean f_all + mean(y - f)


def test_matches_ppi_py_formulas_on_random_data() -> None:
    """ppi_py's ppi_mean_ci (lhat from _calc_lhat_glm with clip) written out by hand: the
    same lambda and estimate; the variance is ppi_py's in the small-sample forms, plus
    the covariance of the labelled items' rectifier with the mean over all N."""
    rng = np.random.default_rng(7)
    f_all = rng.uniform(size=300)
    labelled = rng.choice(300, 40, replace=False)
    y = np.clip(f_all[labelled] + rng.normal(0.1, 0.3, 40), 0, 1)
    f_lab = f_all[labelled]
    n, big_n = 40, 300
    # ppi_py: pointest at lhat=1, grads, grads_hat, grads_hat_unlabeled, inv_hessian = 1
    theta1 = f_all.mean() + (y - f_lab).mean()
    g, h, hu = y - theta1, f_lab - theta1, f_all - theta1
    cov = (1 / n) * 2 * ((g - g.mean()) * (h - h.mean())).sum()
    var = np.cov(np.concatenate([h, hu]))
    lhat = float(np.clip(cov / (2 * (1 + n / big_n) * var), 0, 1))
    point = (lhat * f_all).mean() + (y - lhat * f_lab).mean()
    imputed_std = (lhat * f_all).std() / math.sqrt(big_n)
    rectifier_std = (y - lhat * f_lab).std() / math.sqrt(n)
    r = y - lhat * f_lab
    cov_term = 2 * lhat * np.cov(f_lab, r)[0, 1] / big_n
    se = math.sqrt(rectifier_std ** 2 * n / (n - 1) + imputed_std ** 2 * big_n / (big_n - 1)
                   + cov_term)
    est, lam = ppi_mean(y, f_lab, f_all)
    assert 0 < lhat < 1 and lam == pytest.approx(lhat, abs=1e-12)
    assert est.score == pytest.approx(point, abs=1e-12)
    assert est.se == pytest.approx(se, abs=1e-12)


def test_weighted_gold_is_hajek() -> None:
    # weights 1 and 3 (inclusion probabilities 1 and 1/3), normalized to .5 and 1.5:
    # the gold alone is (1*1 + 3*0)/4 = .25, variance sum((w (y - .25))^2)/(2 - 1)/2
    y, f = np.array([1.0, 0.0]), np.array([1.0, 0.0])
    est, _ = ppi_mean(y, f, np.array([1.0, 0.0, 0.5]), np.array([1.0, 3.0]), lam=0.0)
    assert est.score == pytest.approx(0.25)
    assert est.se == pytest.approx(math.sqrt(((0.5 * 0.75) ** 2 + (1.5 * 0.25) ** 2) / 1 / 2))
    # lam = 1: the rectifier y - f is 0 on both, so the estimate is the panel's mean
    est, _ = ppi_mean(y, f, np.array([1.0, 0.0, 0.5]), np.array([1.0, 3.0]), lam=1.0)
    assert est.score == pytest.approx(0.5)


def test_a_constant_panel_leaves_the_gold_alone() -> None:
    assert power_lambda(Y, np.full(4, 0.5), np.full(8, 0.5)) == 0.0


def test_rank_sets_and_labels_saved() -> None:
    # A far above B and C, whose intervals overlap
    f = np.array([[1.0, 0.5, 0.0], [1.0, 0.0, 0.5], [1.0, 0.5, 0.0], [1.0, 0.0, 0.5]] * 5)
    y = f.copy()
    y[2::4] = y[3::4] = np.nan  # gold on half the items, where B and C take turns
    rows = {r.model: r for r in ppi_rows(["A", "B", "C"], f, y)}
    assert rows["A"].rank == 1 and (rows["A"].rank_low, rows["A"].rank_high) == (1, 1)
    assert (rows["B"].rank_low, rows["B"].rank_high) == (2, 3)
    assert rows["B"].gold_items == 10 and rows["B"].items == 20
    assert rows["B"].rank == rows["C"].rank == 2  # the same score .25: the better rank
    # the panel equals the gold where both are: PPI's interval is narrower than the gold's
    b = rows["B"]
    assert b.gold.width and b.ci_high is not None and b.ci_low is not None
    assert b.as_narrow_as == pytest.approx(
        round(10 * (b.gold.width / (b.ci_high - b.ci_low)) ** 2, 1))
    assert b.as_narrow_as is not None and b.as_narrow_as > 10


def _panel_and_gold(tmp_path: Path) -> tuple[list[dict[str, object]], Path]:
    """One reviewer: A > B > C on t1-t3, C > B > A on t4-t6. Gold on t1 and t4 (A > B > C)
    and t5 (C > B > A)."""
    judgments = []
    for t in range(1, 7):
        order = ["A", "B", "C"] if t <= 3 else ["C", "B", "A"]
        for i, better in enumerate(order):
            for worse in order[i + 1:]:
                judgments.append(pw(f"t{t}", "r1", better, worse, "first"))
    gold = []
    for t, order in (("t1", "ABC"), ("t4", "ABC"), ("t5", "CBA")):
        for i, better in enumerate(order):
            for worse in order[i + 1:]:
                gold.append(pw(t, "human", worse, better, "second"))
    return judgments, write_jsonl(tmp_path / "gold.jsonl", gold)


def test_rank_writes_ppi_json_computed_by_hand(tmp_path: Path) -> None:
    judgments, gold = _panel_and_gold(tmp_path)
    result = rank(judgments, gold=gold, options=RankOptions(ppi=True))
    doc = json.loads(result.files()["ppi.json"])
    assert doc["estimand"] == "item win share" and doc["weighted"] is False
    rows = {r["model"]: r for r in doc["models"]}
    # A: f = 1 1 1 0 0 0, gold on t1 t4 t5: y = 1 1 0, f there 1 0 0
    # cov_n = (1/3*2/3 - 1/3*1/3 + 2/3*1/3)/3 = 1/9; var(1 0 0 ++ f_all) = (180/81)/8 = 5/18
    # lam = (1/9) / ((1 + 3/6) * 5/18) = 4/15
    a = rows["A"]
    assert a["lambda"] == pytest.approx(4 / 15)
    assert a["score"] == pytest.approx(2 / 3 + (4 / 15) / 6)  # lam/2 + 2/3 - lam/3
    assert (a["items"], a["gold_items"]) == (6, 3)
    assert a["panel_score"] == pytest.approx(0.5) and a["gold_score"] == pytest.approx(2 / 3)
    # B: the panel gives .5 on every item (no information): lam 0, the gold's .5
    assert rows["B"]["lambda"] == 0.0 and rows["B"]["score"] == pytest.approx(0.5)
    assert set(a) == {"model", "rank", "score", "ci_low", "ci_high", "rank_low", "rank_high",
                      "lambda", "items", "gold_items", "panel_score", "panel_ci_low",
                      "panel_ci_high", "gold_score", "gold_ci_low", "gold_ci_high",
                      "as_narrow_as"}


def test_defaults_write_no_ppi(tmp_path: Path) -> None:
    judgments, gold = _panel_and_gold(tmp_path)
    result = rank(judgments, gold=gold)
    assert result.ppi is None and "ppi.json" not in result.files()


def test_ppi_without_gold_is_an_input_error(tmp_path: Path) -> None:
    judgments, _ = _panel_and_gold(tmp_path)
    with pytest.raises(InputError, match="--ppi needs human gold"):
        rank(judgments, options=RankOptions(ppi=True))


def test_weighted_gold_weights_the_rectifier(tmp_path: Path) -> None:
    judgments, _ = _panel_and_gold(tmp_path)
    gold = [dict(pw("t1", "h", "B", "A", "second"), weight=1.0),   # A wins on t1
            dict(pw("t4", "h", "B", "A", "first"), weight=3.0)]    # B wins on t4
    path = write_jsonl(tmp_path / "weighted.jsonl", gold)
    result = rank(judgments, gold=path, options=RankOptions(ppi=True))
    doc = json.loads(result.files()["ppi.json"])
    assert doc["weighted"] is True
    a = next(r for r in doc["models"] if r["model"] == "A")
    # gold alone, Hajek: (1*1 + 3*0)/(1 + 3)
    assert a["gold_score"] == pytest.approx(0.25)


def test_estimate_rows_serialize_flat() -> None:
    row = PPIRow("A", 1, 0.5, 0.4, 0.6, 1, 1, 0.3, 10, 2, Estimate(0.5, 0.45, 0.55, 0.02),
                 Estimate(0.5, 0.2, 0.8, 0.1), 5.0)
    d = row.to_dict()
    assert d["lambda"] == 0.3 and d["panel_ci_low"] == 0.45 and d["gold_ci_high"] == 0.8


def test_report_shows_ppi_beside_the_leaderboard(tmp_path: Path) -> None:
    import re

    from peerreview.report import ReportInputs, render

    judgments, gold = _panel_and_gold(tmp_path)
    files = render(ReportInputs(rank(judgments, gold=gold, options=RankOptions(ppi=True))))
    html = b"".join(files["report.html"]).decode()
    table = html[html.index('id="ppi-table"'):html.index("</table>", html.index("ppi-table"))]
    row = re.search(r'<td class="l">A</td><td>([0-9.]+)</td>', table)
    assert row is not None and float(row.group(1)) == pytest.approx(2 / 3 + 4 / 90, abs=1e-4)
    assert "| A | 0.7111 |" in files["summary.md"].decode()
    plain = render(ReportInputs(rank(judgments, gold=gold)))
    assert "ppi-table" not in b"".join(plain["report.html"]).decode()


def test_cli_rank_ppi_writes_ppi_json(tmp_path: Path) -> None:
    from peerreview.cli import main

    judgments, gold = _panel_and_gold(tmp_path)
    path = write_jsonl(tmp_path / "judgments.jsonl", judgments)
    out = tmp_path / "out"
    assert main(["rank", "--judgments", str(path), "--gold", str(gold), "--ppi",
                 "--out", str(out)]) == 0
    rows = {r["model"]: r for r in json.loads((out / "ppi.json").read_text())["models"]}
    assert rows["A"]["lambda"] == pytest.approx(4 / 15)
    assert main(["rank", "--judgments", str(path), "--gold", str(gold), "--out",
                 str(out)]) == 0
    assert not (out / "ppi.json").exists()  # a rank without --ppi leaves no stale ppi.json
