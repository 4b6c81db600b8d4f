"""Label-free qualification: the latent-truth models recover what generated the data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from peerreview.cli import main
from peerreview.exam.latent import (
    consistency_accuracy,
    dawid_skene,
    noisy_bradley_terry,
    pointwise_latent,
    self_confidence,
)
from peerreview.ranking import Qualification, RankOptions, rank
from peerreview.records.exchange import JudgmentSet, PairwiseJudgment, PointwiseJudgment
from peerreview.records.table import build_table
from tests.conftest import pw, write_jsonl

ACCURACY = [0.9, 0.8, 0.7, 0.6, 0.5]


def coin_judgments(seed: int = 1, questions: int = 400) -> list[PairwiseJudgment]:
    """Each reviewer names the better of a pair with its own probability (one order)."""
    rng = np.random.default_rng(seed)
    out = []
    for q in range(questions):
        truth = rng.random() < 0.5
        a, b = f"m{q % 7}", f"m{q % 7 + 1}"
        for r, p in enumerate(ACCURACY):
            a_wins = truth if rng.random() < p else not truth
            out.append(PairwiseJudgment(f"t{q}", f"r{r}", a, b, "first" if a_wins else "second"))
    return out


def test_dawid_skene_recovers_reviewer_accuracies() -> None:
    table = build_table(coin_judgments())
    fit = dawid_skene(table.votes(), len(table.reviewers), len(table.models))
    # Tolerance 0.06: 400 questions, and the best reviewer's own vote is in the truth.
    assert np.abs(fit.accuracy - ACCURACY).max() < 0.06
    assert list(np.argsort(-fit.accuracy)) == [0, 1, 2, 3, 4]
    assert fit.reliability == pytest.approx(list(fit.accuracy))  # no ties here


def test_noisy_bradley_terry_recovers_skill_and_position_bias() -> None:
    rng = np.random.default_rng(2)
    theta = np.linspace(1.5, -1.5, 8)
    skill, bias = [2.0, 1.0, 0.5], [0.0, 1.0, -0.5]
    judgments = []
    for item in range(150):
        for i in range(8):
            for j in range(8):
                for r in range(3):
                    if i != j:
                        p = 1 / (1 + np.exp(-(skill[r] * (theta[i] - theta[j]) + bias[r])))
                        judgments.append(PairwiseJudgment(
                            f"t{item}", f"r{r}", f"m{i}", f"m{j}",
                            "first" if rng.random() < p else "second"))
    table = build_table(judgments)
    fit = noisy_bradley_terry(table.votes(), 3, 8)
    assert np.abs(fit.bias - bias).max() < 0.15
    # Skill and strengths share one scale (the L2 prior shrinks strengths): their
    # product, the log-odds between the best and the worst model, is identified.
    spread = fit.strength.max() - fit.strength.min()
    assert fit.skill * spread == pytest.approx(np.array(skill) * 3.0, rel=0.1)
    assert fit.reliability[0] > fit.reliability[1] > fit.reliability[2]  # type: ignore[operator]


def test_pointwise_model_orders_reviewers_by_noise() -> None:
    rng = np.random.default_rng(3)
    quality = rng.normal(size=(60, 6))
    judgments = []
    for r, (offset, scale, noise) in enumerate([(0.0, 1.0, 0.1), (1.0, 0.5, 0.4),
                                                (0.5, 2.0, 3.0)]):
        for t in range(60):
            for m in range(6):
                score = offset + scale * quality[t, m] + rng.normal(scale=noise)
                judgments.append(PointwiseJudgment(f"t{t}", f"r{r}", f"m{m}", score,
                                                   (-10.0, 10.0)))
    fit = pointwise_latent(build_table(judgments))
    rel = fit.reliability
    assert rel[0] is not None and rel[1] is not None and rel[2] is not None
    assert rel[0] > rel[1] > rel[2] > 0.5
    assert fit.noise[0] < fit.noise[1] < fit.noise[2]


def relabel(judgments: list[PairwiseJudgment], seed: int) -> list[PairwiseJudgment]:
    """Rename the models (so their string order changes) and shuffle the lines."""
    rng = np.random.default_rng(seed)
    names = sorted({j.first for j in judgments} | {j.second for j in judgments})
    new = dict(zip(names, [f"z{k}" for k in rng.permutation(len(names))], strict=True))
    out = [PairwiseJudgment(j.item, j.reviewer, new[j.first], new[j.second], j.winner)
           for j in judgments]
    return [out[k] for k in rng.permutation(len(out))]


@pytest.mark.parametrize("model", ["dawid-skene", "noisy-bt"])
def test_reliability_ignores_model_names_and_line_order(model: str) -> None:
    judgments = coin_judgments(questions=120)
    options = RankOptions(qualification=Qualification.LATENT, latent_model=model,
                          per_reviewer=False)
    before = rank(JudgmentSet(judgments, [], []), options=options).exam
    after = rank(JudgmentSet(relabel(judgments, 5), [], []), options=options).exam
    assert [r.latent_reliability for r in after] == pytest.approx(
        [r.latent_reliability for r in before], abs=1e-6)
    assert [r.weight for r in after] == pytest.approx([r.weight for r in before], abs=1e-6)


def test_latent_qualification_drops_the_coin_flipper() -> None:
    result = rank(JudgmentSet(coin_judgments(), [], []),
                  options=RankOptions(qualification=Qualification.LATENT, per_reviewer=False))
    by = {r.reviewer: r for r in result.exam}
    assert not by["r4"].qualified and by["r0"].qualified
    assert by["r0"].weight > by["r1"].weight > by["r2"].weight > 0


def test_consistency_implied_accuracy() -> None:
    assert consistency_accuracy(1.0) == 1.0
    assert consistency_accuracy(0.5) == 0.5 and consistency_accuracy(0.3) == 0.5
    assert consistency_accuracy(0.82) == pytest.approx(0.9)  # 0.81 + 0.01
    assert consistency_accuracy(None) is None


def test_self_confidence_is_higher_when_surer_on_easy_questions() -> None:
    judgments = []
    for q in range(40):
        easy = q < 20
        for r in range(4):
            # Easy questions: everyone agrees; hard: split 2-2.
            winner = "first" if easy or r < 2 else "second"
            conf = (0.9 if easy else 0.6) if r == 0 else (0.6 if easy else 0.9)
            judgments.append(PairwiseJudgment(f"t{q}", f"r{r}", "A", "B", winner, None, conf))
    table = build_table(judgments)
    conf = self_confidence(table)
    assert conf[0] == pytest.approx(0.3) and conf[1] == pytest.approx(-0.3)


def run_rank(tmp_path: Path, rows: list[dict[str, object]], qualification: str,
             capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, object]], str]:
    path = write_jsonl(tmp_path / "j.jsonl", rows)
    code = main(["rank", "--judgments", str(path), "--qualification", qualification,
                 "--out", str(tmp_path / "out"), "--quiet"])
    err = " ".join(capsys.readouterr().err.split())  # rich wraps lines
    reviewers = json.loads((tmp_path / "out" / "reviewers.json").read_text()) if code == 0 else []
    return code, reviewers, err


def test_one_reviewer_gets_a_warning_not_a_crash(tmp_path: Path, capsys) -> None:
    rows = [pw(f"t{k}", "solo", "A", "B", "first") for k in range(12)]
    code, reviewers, err = run_rank(tmp_path, rows, "latent", capsys)
    assert code == 0 and "equal weight" in err
    assert reviewers[0]["weight"] == 1.0 and reviewers[0]["latent_reliability"] is None


def test_reviewers_that_all_agree(tmp_path: Path, capsys) -> None:
    rows = [pw(f"t{k}", r, "A", "B", "first") for k in range(12) for r in ("x", "y", "z")]
    code, reviewers, err = run_rank(tmp_path, rows, "latent", capsys)
    assert code == 0 and "cannot be told apart" in err
    assert all(r["qualified"] and r["weight"] == pytest.approx(1 / 3) for r in reviewers)
    assert all(0.99 <= r["latent_reliability"] <= 1 for r in reviewers)


def test_a_reviewer_that_always_answers_first(tmp_path: Path, capsys) -> None:
    rows = []
    for k in range(12):
        for r in ("x", "y"):
            rows += [pw(f"t{k}", r, "A", "B", "first"), pw(f"t{k}", r, "B", "A", "second")]
        rows += [pw(f"t{k}", "lazy", "A", "B", "first"), pw(f"t{k}", "lazy", "B", "A", "first")]
    for qualification in ("latent", "consistency"):
        code, reviewers, err = run_rank(tmp_path, rows, qualification, capsys)
        assert code == 0 and "'lazy' chose the answer shown first in all 24" in err
        by = {r["reviewer"]: r for r in reviewers}
        assert not by["lazy"]["qualified"] and by["x"]["qualified"]
        for r in reviewers:  # never NaN
            assert all(v == v for v in r.values() if isinstance(v, float))


def test_consistency_needs_both_orders(tmp_path: Path, capsys) -> None:
    rows = [pw(f"t{k}", r, "A", "B", "first") for k in range(12) for r in ("x", "y")]
    code, _, err = run_rank(tmp_path, rows, "consistency", capsys)
    assert code == 0 and "needs pairs judged in both orders" in err
