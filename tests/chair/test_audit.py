"""What would flip the ranking, on small tables computed by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from peerreview.chair import VoteChair, gather_evidence, leaderboard
from peerreview.chair.audit import audit_ranking, cycles, flip_items, flip_judgments
from peerreview.records.exchange import parse_judgment
from peerreview.records.table import JudgmentTable, build_table


def _table(wins: list[tuple[str, str, str]]) -> JudgmentTable:
    rows = [{"item": t, "reviewer": "r", "first": w, "second": lose, "winner": "first"}
            for t, w, lose in wins]
    return build_table([parse_judgment(r, Path("x"), i) for i, r in enumerate(rows)])


def three_models() -> JudgmentTable:
    """A beats B on t1-t3, B beats A on t4-t5; A and B beat C on every item.
    Win rates: A 8/10 = 0.8, B 7/10 = 0.7, C 0."""
    wins = [(f"t{k}", "A", "B") for k in (1, 2, 3)] + [(f"t{k}", "B", "A") for k in (4, 5)]
    wins += [(f"t{k}", m, "C") for k in range(1, 6) for m in ("A", "B")]
    return _table(wins)


def test_flip_counts_by_hand() -> None:
    # Removing one of t1-t3: A 6/8, B 6/8, a tie, not a reversal. Two: A 4/6, B 5/6.
    # Judgments: removing t1's A>B vote leaves A 7/9 = B 7/9; removing also t1's A>C
    # vote: A 6/8 = 0.75 < B 7/9. So 2 items, 2 judgments.
    table = three_models()
    ev = gather_evidence(table, np.array([1.0]), by_mean=False)
    chair = VoteChair()
    assert chair.scores(ev).tolist() == [0.8, 0.7, 0.0]
    removed = flip_items(chair, ev, 0, 1)
    assert removed is not None and removed.size == 2
    assert {table.items[t] for t in removed} <= {"t1", "t2", "t3"}
    assert flip_judgments(chair, ev, 0, 1) == 2
    # B over C: removing whole items never puts C ahead (C loses every verdict it has)
    assert flip_items(chair, ev, 1, 2) is None


def test_audit_json_of_the_three_models() -> None:
    table = three_models()
    ev = gather_evidence(table, np.array([1.0]), by_mean=False)
    chair = VoteChair()
    audit = audit_ranking(chair, ev, leaderboard(chair, ev), [], None)
    assert audit["top"]["leader"] == "A" and audit["top"]["other"] == "B"
    assert (audit["top"]["items"], audit["top"]["judgments"]) == (2, 2)
    assert audit["top"]["item_share"] == 0.4
    assert [(p["leader"], p["other"]) for p in audit["adjacent"]] == [("A", "B"), ("B", "C")]
    assert audit["cycles"] == [] and audit["warnings"] == []
    assert audit["panel"]["reviewers"] == ["r"]


def test_a_cycle_at_the_item_level() -> None:
    # A beats B on t1, t2; B beats C on t1, t2; C beats A on t1, t2; B beats A on t3
    wins = [(t, w, lose) for t in ("t1", "t2") for w, lose in
            (("A", "B"), ("B", "C"), ("C", "A"))] + [("t3", "B", "A")]
    ev = gather_evidence(_table(wins), np.array([1.0]), by_mean=False)
    # head to head A-B: 2 to 1, so A beats B; B-C 2-0; C-A 2-0
    assert cycles(ev) == [{"cycle": ["A", "B", "C"], "items_won": [2, 2, 2],
                           "items_lost": [1, 0, 0]}]


def test_a_top_spot_on_one_item_of_two_hundred_warns() -> None:
    # A and B tie on 199 items; A wins t0: A 200.5/... ahead by one item
    wins = [("t0", "A", "B")] + [(f"t{k}", "A" if k % 2 else "B", "B" if k % 2 else "A")
                                 for k in range(1, 201)]
    ev = gather_evidence(_table(wins), np.array([1.0]), by_mean=False)
    chair = VoteChair()
    audit = audit_ranking(chair, ev, leaderboard(chair, ev), [], None)
    # A: 101 of 201, B: 100 of 201; removing two of A's wins reverses it
    assert audit["top"]["items"] == 2
    assert audit["warnings"] and "2 of 201 items" in audit["warnings"][0]


def test_mean_chair_flips_by_items_and_scores() -> None:
    # one reviewer scores 1-5: A 5, 5, 1 and B 2, 2, 5 on t1-t3: means 11/3 and 3.
    # Removing t1: A 3, B 3.5, reversed: one item. One score never does it (A's 5 on t1
    # ties them at 3; B's 2 on t1 leaves B at 3.5 < 11/3); A's 5s on t1 and t2 do.
    from peerreview.chair import MeanChair

    rows = [{"item": f"t{k}", "reviewer": "r", "model": m, "score": s, "scale": [1, 5]}
            for k, (a, b) in enumerate([(5, 2), (5, 2), (1, 5)], start=1)
            for m, s in (("A", a), ("B", b))]
    table = build_table([parse_judgment(r, Path("x"), i) for i, r in enumerate(rows)])
    chair = MeanChair()
    ev = gather_evidence(table, np.array([1.0]), by_mean=True)
    assert chair.scores(ev).tolist() == [11 / 3, 3.0]
    removed = flip_items(chair, ev, 0, 1)
    assert removed is not None and [table.items[t] for t in removed] == ["t1"]
    assert flip_judgments(chair, ev, 0, 1) == 2
