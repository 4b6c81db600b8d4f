"""Labels to exam gold: a small labelling worked by hand, read back as weighted gold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peerreview.cli import main
from peerreview.errors import InputError
from peerreview.exam.grade import run_exam
from peerreview.labels.export import exam_on_labels, export_gold
from peerreview.labels.select import Unit
from peerreview.labels.store import LabelBook, read_labels, select_into
from peerreview.records.exchange import PairwiseJudgment
from peerreview.records.gold import gold_from_judgments
from peerreview.records.table import build_table
from tests.conftest import pw, write_jsonl

U1 = Unit("u1", "q1", "m1", "m2", "m1 vs m2", 0.5, 0.0, None, True)
U2 = Unit("u2", "q2", "m2", "m1", "m1 vs m2", 0.25, 1.0)
U3 = Unit("u3", "q1", "m2", "m1", "m1 vs m2", 0.5, 0.0, "u1")  # u1 again, swapped


@pytest.fixture()
def labelled(tmp_path: Path) -> Path:
    """Two annotators: ann1 labels u1 (m1), u2 wrongly then undoes and labels it (m1),
    u3 (m1 again: consistent) and skips nothing; ann2 labels the double u1 (m2)."""
    write_jsonl(tmp_path / "items.jsonl", [{"item": t, "input": t} for t in ("q1", "q2")])
    write_jsonl(tmp_path / "submissions.jsonl", [{"item": t, "model": m, "output": t + m}
                                                 for t in ("q1", "q2") for m in ("m1", "m2")])
    (tmp_path / "labels").mkdir()
    write_jsonl(tmp_path / "labels" / "selection.jsonl", [u.to_dict() for u in (U1, U2, U3)])
    ann1 = LabelBook.open(tmp_path, "ann1")
    assert ann1.next_unit() == U1
    ann1.label("u1", "a", "m1 is right")
    assert ann1.next_unit() == U2
    ann1.label("u2", "a", "")
    assert ann1.undo() == 2
    assert ann1.next_unit() == U2  # undone: asked again
    ann1.label("u2", "b", "")
    assert ann1.next_unit() == U3  # the repeat comes once its original is labelled
    ann1.label("u3", "b", "")
    assert ann1.next_unit() is None
    ann2 = LabelBook.open(tmp_path, "ann2")
    # the double is left for a second person, and its repeat (each labeller's own)
    assert ann2.progress() == (0, 2)
    ann2.label("u1", "b", "")
    return tmp_path


def test_export_writes_gold_in_label_order_with_the_shown_order(labelled: Path) -> None:
    out = labelled / "gold.jsonl"
    stats = export_gold(labelled, out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["reviewer"], r["item"], r["first"], r["second"], r["winner"], r["weight"])
            for r in rows] == [
        ("ann1", "q1", "m1", "m2", "first", 2.0),
        ("ann1", "q2", "m2", "m1", "second", 4.0),
        ("ann1", "q1", "m2", "m1", "second", 2.0),
        ("ann2", "q1", "m1", "m2", "second", 2.0)]
    assert [r["meta"]["disagreement"] for r in rows] == [True, False, True, True]
    assert rows[0]["meta"]["rationale"] == "m1 is right"
    assert rows[2]["meta"]["repeat_of"] == "u1"
    assert stats.flagged == 1 and stats.gold == 4
    assert stats.effective == pytest.approx(10 ** 2 / 28)  # weights 2, 4, 2, 2
    assert stats.strata == {"m1 vs m2": (4, 0)}
    ann1, ann2 = stats.annotators
    assert (ann1.labels, ann1.tie_rate, ann1.left_rate, ann1.self_agreement, ann1.repeats) == \
        (3, 0.0, pytest.approx(1 / 3), 1.0, 1)
    assert (ann2.labels, ann2.left_rate, ann2.self_agreement) == (1, 0.0, None)
    assert stats.kappa == {("ann1", "ann2"): (0.0, 1)}  # they disagree on their one unit


def test_the_exam_weighs_sampled_gold(labelled: Path) -> None:
    """Read back, q1 is decided for m1 (two votes to one) with weight 2, q2 for m1
    with weight 4. A reviewer wrong on q1 and right on q2 scores (2*0 + 4*1) / 6."""
    export_gold(labelled, labelled / "gold.jsonl")
    gold = gold_from_judgments(labelled / "gold.jsonl")
    assert gold.pairs == {("q1", "m1", "m2"): 1, ("q2", "m1", "m2"): 1}
    assert gold.weights == {("q1", "m1", "m2"): 2.0, ("q2", "m1", "m2"): 4.0}
    table = build_table([PairwiseJudgment("q1", "r", "m1", "m2", "second"),
                         PairwiseJudgment("q2", "r", "m1", "m2", "first")])
    (exam,) = run_exam(table, gold, threshold=0.0, n_boot=50)
    assert exam.exam_accuracy == pytest.approx(4 / 6)
    assert exam.ci_low is not None and exam.ci_high is not None
    assert 0.0 <= exam.ci_low <= 4 / 6 <= exam.ci_high <= 1.0


def test_an_unweighted_exam_is_the_plain_share(tmp_path: Path) -> None:
    gold = gold_from_judgments(write_jsonl(tmp_path / "g.jsonl", [
        pw("q1", "h", "m1", "m2", "first"), pw("q2", "h", "m1", "m2", "first")]))
    assert gold.weights == {}
    table = build_table([PairwiseJudgment("q1", "r", "m1", "m2", "second"),
                         PairwiseJudgment("q2", "r", "m1", "m2", "first")])
    assert run_exam(table, gold, threshold=0.0, n_boot=10)[0].exam_accuracy == 0.5


def test_a_bad_weight_names_file_line_and_field(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "g.jsonl", [{**pw("q1", "h", "m1", "m2", "first"),
                                               "weight": -1}])
    with pytest.raises(InputError) as exc:
        gold_from_judgments(path)
    assert (exc.value.path, exc.value.line, exc.value.field) == (str(path), 1, "weight")


def test_a_retraction_removes_exactly_its_label(labelled: Path) -> None:
    choices = [(x["unit"], x["choice"]) for x in read_labels(labelled)["ann1"]]
    assert choices == [("u1", "a"), ("u2", "b"), ("u3", "b")]


def test_the_commands_refuse_what_would_lose_labels(labelled: Path, capsys) -> None:
    assert main(["label-select", str(labelled), "--n", "2"]) == 2
    assert "already made" in capsys.readouterr().err
    assert main(["label-export", str(labelled / "nowhere"), "--out",
                 str(labelled / "g.jsonl")]) == 2
    assert "label-select" in capsys.readouterr().err
    with pytest.raises(InputError):
        LabelBook.open(labelled, "../../etc/passwd")
    assert main(["label-export", str(labelled), "--out", str(labelled / "g.jsonl")]) == 0
    assert len((labelled / "g.jsonl").read_text().splitlines()) == 4


def test_select_into_writes_a_selection_a_book_can_open(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "items.jsonl", [{"item": "q1", "input": "x"}])
    write_jsonl(tmp_path / "submissions.jsonl", [{"item": "q1", "model": m, "output": m}
                                                 for m in ("m1", "m2", "m3")])
    units = select_into(tmp_path, 3, seed=0)
    assert sorted((u.item, *sorted((u.left, u.right))) for u in units
                  if u.repeat_of is None) == [("q1", "m1", "m2"), ("q1", "m1", "m3"),
                                               ("q1", "m2", "m3")]
    book = LabelBook.open(tmp_path, "me")
    assert book.progress() == (0, len(units))  # the repeats are this person's too


def test_ratings_export_as_pointwise_gold(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "items.jsonl", [{"item": "q1", "input": "x"}])
    write_jsonl(tmp_path / "submissions.jsonl", [{"item": "q1", "model": m, "output": m}
                                                 for m in ("m1", "m2")])
    (tmp_path / "labels").mkdir()
    rate = [Unit("r1", "q1", "m1", "", "m1", 0.5, 0.0, kind="rate"),
            Unit("r2", "q1", "m2", "", "m2", 1.0, 0.0, kind="rate")]
    write_jsonl(tmp_path / "labels" / "selection.jsonl", [u.to_dict() for u in rate])
    book = LabelBook.open(tmp_path, "ann")
    book.label("r1", "4", "")
    book.label("r2", "2", "")
    stats = export_gold(tmp_path, tmp_path / "gold.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "gold.jsonl").read_text().splitlines()]
    assert [(r["model"], r["score"], r["scale"], r["meta"]["weight"]) for r in rows] == \
        [("m1", 4, [1, 5], 2.0), ("m2", 2, [1, 5], 1.0)]
    assert (stats.annotators[0].tie_rate, stats.annotators[0].left_rate) == (None, None)
    gold = gold_from_judgments(tmp_path / "gold.jsonl")
    assert gold.pairs == {("q1", "m1", "m2"): 1}  # 4 over 2
    assert gold.item_scores == {"q1": {"m1": 0.75, "m2": 0.25}}


def test_a_unit_is_labelled_once_a_person_and_a_broken_line_is_named(labelled: Path) -> None:
    book = LabelBook.open(labelled, "ann1")
    with pytest.raises(InputError, match="labelled already"):
        book.label("u1", "b", "")
    with (labelled / "labels" / "ann2.jsonl").open("a") as f:
        f.write(json.dumps({"seq": 9, "unit": "u2"}) + "\n")
    with pytest.raises(InputError) as exc:
        read_labels(labelled)
    assert (exc.value.line, exc.value.field) == (2, "choice")


def test_exam_on_labels_grades_the_folders_reviewers(labelled: Path) -> None:
    export_gold(labelled, labelled / "gold.jsonl")
    assert exam_on_labels(labelled, labelled / "gold.jsonl") == ([], None)  # no judgments
    write_jsonl(labelled / "judgments.jsonl", [pw("q1", "r", "m1", "m2", "second"),
                                               pw("q2", "r", "m1", "m2", "first")])
    (exam,), why_not = exam_on_labels(labelled, labelled / "gold.jsonl", threshold=0.7)
    assert why_not is None
    assert exam.exam_accuracy == pytest.approx(4 / 6) and not exam.qualified
