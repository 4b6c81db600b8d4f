"""Agreement with gold: pairwise accuracy and rank correlations, by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peerreview.agreement import measure_agreement
from peerreview.chair import VoteChair, gather_evidence
from peerreview.records.exchange import parse_judgment
from peerreview.records.gold import gold_from_judgments
from peerreview.records.table import build_table
from tests.conftest import VOTE_EXAMPLE, pt, pw, write_jsonl


def test_pairwise_accuracy_by_hand(tmp_path: Path) -> None:
    table = build_table([parse_judgment(r, Path("x"), i) for i, r in enumerate(VOTE_EXAMPLE)])
    ev = gather_evidence(table, np.array([0.5, 0.5]), by_mean=False)
    gold = gold_from_judgments(write_jsonl(tmp_path / "g.jsonl", [
        pw("t1", "h", "A", "B", "first"),   # verdict A: 1
        pw("t1", "h", "B", "C", "first"),   # verdict tie: 0.5
        pw("t2", "h", "A", "B", "first"),   # verdict B: 0
        pw("t3", "h", "A", "B", "first"),   # no verdict: 0.5
        pw("t2", "h", "A", "C", "tie"),     # a tie is not gold
    ]))
    a = measure_agreement(ev, VoteChair().scores(ev), gold)
    assert a.pairwise_accuracy == pytest.approx(2.0 / 4)
    assert a.pairs == 4 and a.pairs_without_verdict == 1
    # gold: A won t1,t2,t3 vs B (3 of 3 with B) -> A 3/3, B 1/4 (beat C), C 0/1
    # chair order C > B > A against gold A > B > C: perfectly reversed
    assert a.kendall_tau == pytest.approx(-1.0)
    assert a.spearman == pytest.approx(-1.0)


def test_gold_votes_are_summed_over_annotators(tmp_path: Path) -> None:
    gold = gold_from_judgments(write_jsonl(tmp_path / "g.jsonl", [
        pw("t1", "h1", "A", "B", "first"), pw("t1", "h2", "B", "A", "first"),
        pw("t1", "h3", "A", "B", "first"),     # 2 for A, 1 for B: A
        pw("t2", "h1", "A", "B", "first"), pw("t2", "h2", "A", "B", "second"),  # 1:1 tie
    ]))
    assert gold.pairs == {("t1", "A", "B"): 1}


def test_item_spearman_with_pointwise_gold(tmp_path: Path) -> None:
    rows = [pt("t1", "r", m, s) for m, s in (("A", 1), ("B", 2), ("C", 3))]
    rows += [pt("t2", "r", m, s) for m, s in (("A", 3), ("B", 2), ("C", 1))]
    table = build_table([parse_judgment(r, Path("x"), i) for i, r in enumerate(rows)])
    ev = gather_evidence(table, np.array([1.0]), by_mean=True)
    gold = gold_from_judgments(write_jsonl(tmp_path / "g.jsonl", [
        pt("t1", "h", "A", 1), pt("t1", "h", "B", 2), pt("t1", "h", "C", 3),
        pt("t2", "h", "A", 1), pt("t2", "h", "B", 2), pt("t2", "h", "C", 3)]))
    a = measure_agreement(ev, np.array([2.0, 2.0, 2.0]), gold)
    assert a.item_spearman == pytest.approx(0.0)  # +1 on t1, -1 on t2
    assert a.items_correlated == 2
    assert a.pairwise_accuracy == pytest.approx(0.5)
