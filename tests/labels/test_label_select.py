"""Choosing what to label: inclusion probabilities as designed, and accuracy estimated
without bias by inverse-probability weights, although disagreement is oversampled."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from peerreview.exam.grade import run_exam
from peerreview.labels.select import select, select_ratings
from peerreview.records.exchange import PairwiseJudgment, PointwiseJudgment, Submission
from peerreview.records.gold import Gold
from peerreview.records.table import build_table

MODELS = ["m1", "m2", "m3", "m4", "m5"]


def population(n_items: int = 60) -> tuple[list[Submission], list[PairwiseJudgment]]:
    """Submissions, and three reviewers who disagree on a third of the pairs."""
    subs = [Submission(f"t{t}", m, f"answer {t} {m}") for t in range(n_items) for m in MODELS]
    judged = []
    for t in range(n_items):
        for i, a in enumerate(MODELS):
            for b in MODELS[i + 1:]:
                hard = (t + i) % 3 == 0
                for r, says in enumerate(("first", "second" if hard else "first", "first")):
                    judged.append(PairwiseJudgment(f"t{t}", f"r{r}", a, b, says))  # type: ignore[arg-type]
    return subs, judged


def test_the_design_draws_about_n_with_its_probabilities() -> None:
    subs, judged = population()
    units = select(subs, judged, 100, seed=1, repeats=0.0)
    assert 80 <= len(units) <= 120
    assert all(0 < u.probability <= 1 for u in units)
    by_stratum = {u.stratum for u in units}
    assert len(by_stratum) == 10  # every model pair is represented in the core
    # Disagreement is oversampled: its share among the labels exceeds its share overall.
    hard = np.mean([u.disagreement > 0.5 for u in units])
    assert hard > 1 / 3 + 0.1
    assert len({u.id for u in units}) == len(units)


def test_repeats_swap_the_order_and_doubles_are_flagged() -> None:
    subs, judged = population()
    units = select(subs, judged, 100, seed=2, repeats=0.2, doubles=0.3)
    firsts = {u.id: u for u in units if u.repeat_of is None}
    again = [u for u in units if u.repeat_of is not None]
    assert again and all((u.left, u.right) == (firsts[u.repeat_of].right,
                                                firsts[u.repeat_of].left) for u in again)
    assert 0.15 < np.mean([u.double for u in firsts.values()]) < 0.45


def test_the_weighted_accuracy_is_unbiased_where_the_plain_one_is_not() -> None:
    """A reviewer right on 95% of easy pairs and 55% of disputed ones; the labels
    oversample the disputed. Over many draws the exam on the weighted labels finds the
    population's accuracy; the plain mean is pulled towards the disputed pairs."""
    subs, judged = population()
    rng = np.random.default_rng(7)
    keys = {(s.item, a, b) for s in subs for a in MODELS for b in MODELS if a < b
            and s.model == a}
    hard = {k: (int(k[0][1:]) + MODELS.index(k[1])) % 3 == 0 for k in keys}
    right = {k: float(rng.random() < (0.55 if hard[k] else 0.95)) for k in sorted(keys)}
    truth = np.mean(list(right.values()))
    # the reviewer says a is better where it is right; gold always says a is better
    table = build_table([PairwiseJudgment(t, "r", a, b, "first" if right[(t, a, b)] else "second")
                         for t, a, b in sorted(keys)])
    weighted, plain = [], []
    for seed in range(200):
        units = [u for u in select(subs, judged, 60, seed=seed, repeats=0.0)]
        pairs = [(u.item, *sorted((u.left, u.right))) for u in units]
        gold = Gold({k: 1 for k in pairs}, {}, weights={
            k: 1 / u.probability for k, u in zip(pairs, units, strict=True)})
        (exam,) = run_exam(table, gold, threshold=0.0, n_boot=10)
        weighted.append(exam.exam_accuracy)
        plain.append(np.mean([right[k] for k in pairs]))
    assert np.mean(weighted) == pytest.approx(truth, abs=0.01)
    assert truth - np.mean(plain) > 0.03


def test_without_judgments_every_label_is_random_within_strata() -> None:
    subs, _ = population(10)
    units = select(subs, [], 30, seed=0, repeats=0.0)
    assert len(units) == 30
    assert {round(u.probability, 6) for u in units} == {0.3}  # 3 of each stratum's 10


def test_item_categories_split_the_strata() -> None:
    subs, judged = population(20)
    categories = {f"t{t}": "code" if t % 2 else "prose" for t in range(20)}
    units = select(subs, judged, 60, seed=0, repeats=0.0, categories=categories)
    strata = {u.stratum for u in units}
    assert len(strata) == 20  # 10 model pairs x 2 categories, each in the core
    assert all(u.stratum.endswith(" | " + categories[u.item]) for u in units)


def test_ratings_stratify_by_model_and_seek_spread_scores() -> None:
    subs, _ = population(40)
    scored = [PointwiseJudgment(s.item, f"r{r}", s.model,
                                (1 + 4 * (r % 2)) if int(s.item[1:]) % 4 == 0 else 3, (1, 5))
              for s in subs for r in range(2)]  # a quarter of the items split 1 vs 5
    units = select_ratings(subs, scored, 50, seed=0, repeats=0.0)
    assert all(u.kind == "rate" and u.right == "" for u in units)
    assert {u.stratum for u in units} == set(MODELS)
    assert {u.disagreement for u in units} <= {0.0, 1.0}
    assert np.mean([u.disagreement == 1.0 for u in units]) > 0.25 + 0.1
    assert all(0 < u.probability <= 1 for u in units)


def test_label_select_from_abstained_chooses_only_the_pairs_that_need_review(
        tmp_path: Path) -> None:
    """The CLI path of ``--from-abstained``: a folder's verdicts marked needs_review are
    the only pairs chosen, and it refuses --rate."""
    from peerreview.cli import main
    from tests.conftest import write_jsonl

    write_jsonl(tmp_path / "submissions.jsonl", [
        {"item": t, "model": m, "output": f"{t} by {m}"}
        for t in ("t1", "t2", "t3") for m in ("A", "B", "C")])
    write_jsonl(tmp_path / "verdicts.jsonl", [
        {"item": "t1", "a": "A", "b": "B", "margin": 0.1, "needs_review": True},
        {"item": "t2", "a": "A", "b": "C", "margin": 2.0, "needs_review": False},
        {"item": "t3", "a": "B", "b": "C", "margin": 0.0, "needs_review": True}])
    assert main(["label-select", str(tmp_path), "--n", "10", "--from-abstained"]) == 0
    chosen = [json.loads(line) for line in
              (tmp_path / "labels" / "selection.jsonl").read_text().splitlines()]
    pairs = {(u["item"], *sorted((u["left"], u["right"]))) for u in chosen}
    assert pairs == {("t1", "A", "B"), ("t3", "B", "C")}
    (tmp_path / "labels" / "selection.jsonl").unlink()
    assert main(["label-select", str(tmp_path), "--rate", "--from-abstained"]) == 2
