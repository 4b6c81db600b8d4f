"""On the real data sets in ../shared/data: import counts, and PRE's claims."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from peerreview.cli import main
from peerreview.importers import importer
from peerreview.ranking import RankOptions, rank


def test_summeval_import(data_dir: Path) -> None:
    data = importer("summeval")(data_dir / "summeval", dimension="relevance")
    assert len(data.items) == 100 and len(data.submissions) == 1200
    reviewers = {j.reviewer for j in data.judgments}
    assert len(reviewers) == 9 and "gpt-3.5-turbo-0301:mcq" in reviewers
    assert len(data.judgments) == 9 * 1200
    assert sum(data.abstentions().values()) <= 5  # almost every answer is read
    assert any("repeated answers" in n for n in data.notes)
    # gold is the mean of the three experts
    first = next(g for g in data.gold if g.item == data.items[0].item and g.model == "M8")
    assert first.score == pytest.approx((2 + 3 + 2) / 3)


def test_vicuna80_import_resolves_the_duplicate_run(data_dir: Path) -> None:
    data = importer("vicuna80")(data_dir / "vicuna80")
    assert len(data.items) == 80 and len(data.submissions) == 400
    assert len(data.judgments) == 5 * 20 * 80  # every reviewer, every ordered pair, once
    assert sum("gpt35" in n and "answer-gpt" in n for n in data.notes) == 2
    models = {m for g in data.gold for m in (g.first, g.second)}  # type: ignore[union-attr]
    assert models == {"gpt4", "claude", "gpt35", "bard", "vicuna-13b"}  # no Guanaco


def test_pandalm_import(data_dir: Path) -> None:
    data = importer("pandalm")(data_dir / "pandalm")
    assert len(data.items) == 999 and len(data.judgments) == 2 * 999
    assert data.abstentions()["gpt-3.5-turbo"] == 25  # the "garbage" answers
    assert len(data.gold) == 3 * 999


@pytest.mark.parametrize("name", ["summeval", "vicuna80", "pandalm"])
def test_real_sets_pass_the_shape_checks(data_dir: Path, name: str) -> None:
    """The released sets have every submission, one spelling per model and no input
    repeated with other white space: any warning here would be a false alarm."""
    assert importer(name)(data_dir / name).warnings == []


def test_contract_on_vicuna80(imported: dict[str, Path], tmp_path: Path) -> None:
    d = imported["vicuna80"]
    code = main(["rank", "--judgments", str(d / "judgments.jsonl"), "--exam-gold",
                 str(d / "gold.jsonl"), "--gold", str(d / "gold.jsonl"), "--out",
                 str(tmp_path / "o"), "--quiet"])
    assert code == 0
    for name in ("leaderboard.json", "leaderboard.csv", "reviewers.json", "verdicts.jsonl",
                 "agreement.json", "cost.json"):
        assert (tmp_path / "o" / name).exists()
    board = json.loads((tmp_path / "o" / "leaderboard.json").read_text())
    # the human ranking: gpt4 > claude > vicuna-13b > gpt35 > bard
    assert [r["model"] for r in board] == ["gpt4", "claude", "vicuna-13b", "gpt35", "bard"]


@pytest.mark.parametrize("name", ["summeval", "vicuna80", "pandalm"])
def test_panel_beats_every_single_reviewer(imported: dict[str, Path], name: str) -> None:
    d = imported[name]
    result = rank([d / "judgments.jsonl"], exam_gold=d / "gold.jsonl", gold=d / "gold.jsonl",
                  options=RankOptions())
    assert result.agreement is not None
    panel = result.agreement.pairwise_accuracy
    best = max(s.agreement.pairwise_accuracy for s in result.reviewer_agreement)
    assert panel > best
    if name == "summeval":
        assert result.agreement.kendall_tau is not None
        assert result.agreement.kendall_tau >= 0.85


@pytest.mark.parametrize("method", ["bradley-terry", "elo", "peer-rank"])
def test_other_chairs_agree_with_humans_on_vicuna80(imported: dict[str, Path],
                                                   method: str) -> None:
    d = imported["vicuna80"]
    result = rank([d / "judgments.jsonl"], gold=d / "gold.jsonl",
                  options=RankOptions(method=method, per_reviewer=False))
    assert result.agreement is not None and result.agreement.kendall_tau is not None
    assert result.agreement.kendall_tau >= 0.8  # at most one swapped pair of five models


@pytest.mark.parametrize("name", ["summeval", "vicuna80", "pandalm"])
def test_imported_sets_read_back_and_report(imported: dict[str, Path], name: str,
                                            tmp_path: Path) -> None:
    """What an importer writes is valid exchange input (PandaLM has a response that
    its JSON holds as `true`): rank and report take it as it is."""
    from peerreview.cli import main

    d = imported[name]
    assert main(["rank", "--judgments", str(d / "judgments.jsonl"), "--exam-gold",
                 str(d / "gold.jsonl"), "--items", str(d / "items.jsonl"), "--submissions",
                 str(d / "submissions.jsonl"), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    out = tmp_path / "out"
    html = (out / "report.html").read_text()
    board = [row["model"] for row in json.loads((out / "leaderboard.json").read_text())]
    table = html[html.index('id="leaderboard-table"'):]
    shown = re.findall(r'<tr><td>\d+</td><td class="l">([^<]*)</td>',
                       table[:table.index("</table>")])
    assert shown == board and len(board) >= 4  # every ranked model, in the ranking's order
    island = html[html.index('id="browser-data">') + len('id="browser-data">'):]
    browser = json.loads(island[:island.index("</script>")])
    items = {json.loads(line)["item"] for line in (d / "items.jsonl").read_text().splitlines()}
    assert {row["item"] for row in browser["items"]} == items
    assert sorted(browser["models"]) == sorted(board)
