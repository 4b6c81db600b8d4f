"""``peerreview compare DIR A B`` and ``rank --shrink`` as the command line drives them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peerreview.cli import main
from tests.conftest import VOTE_EXAMPLE, pw, write_jsonl


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def ranked(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> Path:
    j = write_jsonl(tmp_path / "j.jsonl", VOTE_EXAMPLE)
    out = tmp_path / "out"
    code, _, err = run(["rank", "--judgments", str(j), "--out", str(out), "--quiet", *extra],
                       capsys)
    assert code == 0, err
    return out


def test_compare_says_one_sentence_from_the_folder(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = ranked(tmp_path, capsys)
    # without --bootstrap no comparisons.json: the difference from leaderboard.json, C
    # winning 3/4 of its verdicts and B 1/2 (tests/chair/test_vote.py), A 1/3
    assert not (out / "comparisons.json").exists()
    assert "vs_next" not in (out / "leaderboard.json").read_text()
    code, said, _ = run(["compare", str(out), "C", "B"], capsys)
    assert code == 0
    assert said == "C is ahead of B by 0.25 (no interval: ranked without --bootstrap)\n"
    code, said, _ = run(["compare", str(out), "A", "B"], capsys)
    assert said == "A is behind B by 0.17 (no interval: ranked without --bootstrap)\n"


def test_compare_reads_the_bootstrap_of_the_ranking(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = ranked(tmp_path, capsys, "--bootstrap", "200", "--seed", "4")
    pair = next(p for p in json.loads((out / "comparisons.json").read_text())["pairs"]
                if (p["a"], p["b"]) == ("C", "B"))
    board = json.loads((out / "leaderboard.json").read_text())
    assert pair["difference"] == pytest.approx(board[0]["score"] - board[1]["score"])
    assert board[0]["vs_next"] == pair
    code, said, _ = run(["compare", str(out), "C", "B"], capsys)
    assert code == 0
    assert said == (f"C is ahead of B by 0.25 [{pair['ci_low']:.2f}, {pair['ci_high']:.2f}] "
                    f"in {pair['a_ahead']:.0%} of resamples over 1 item\n")
    data = json.loads((out / "comparisons.json").read_text())
    data["pairs"][0].update(difference=0.5, ci_low=0.1, ci_high=0.9, a_ahead=0.9, items=7)
    (out / "comparisons.json").write_text(json.dumps(data))
    code, said, _ = run(["compare", str(out), "B", "C"], capsys)  # the file, not a new rank
    assert said == "B is behind C by 0.50 [0.10, 0.90] in 90% of resamples over 7 items\n"


def test_compare_refuses_what_it_cannot_read(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = ranked(tmp_path, capsys, "--bootstrap", "20")
    code, _, err = run(["compare", str(out), "C", "Z"], capsys)
    assert code == 2 and "no model 'Z' in this ranking" in err and "'A', 'B', 'C'" in err
    code, _, err = run(["compare", str(out), "C", "C"], capsys)
    assert code == 2 and "the same model" in err
    data = json.loads((out / "comparisons.json").read_text())
    data["pairs"][0]["difference"] = "big"
    (out / "comparisons.json").write_text(json.dumps(data))
    code, _, err = run(["compare", str(out), "C", "B"], capsys)
    assert code == 2 and "pairs[0]" in err and "'difference' must be a number" in err
    (out / "comparisons.json").write_text("{not json")
    code, _, err = run(["compare", str(out), "C", "B"], capsys)
    assert code == 2 and "comparisons.json" in err and "not valid JSON" in err
    (out / "comparisons.json").unlink()
    (out / "leaderboard.json").write_text('[{"model": "C", "score": "high"}]')
    code, _, err = run(["compare", str(out), "C", "B"], capsys)
    assert code == 2 and "leaderboard.json" in err and "'score' must be a number" in err
    code, _, err = run(["compare", str(tmp_path), "C", "B"], capsys)
    assert code == 2 and "no comparisons.json or leaderboard.json here" in err


def test_rank_shrink_names_the_method_and_lambda(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    gold = write_jsonl(tmp_path / "g.jsonl", [pw("t1", "h", "A", "B", "first"),
                                              pw("t2", "h", "A", "B", "second")])
    out = ranked(tmp_path, capsys, "--shrink", "eb", "--exam-gold", str(gold),
                 "--threshold", "0")
    facts = json.loads((out / "run.json").read_text())
    assert facts["rank"]["options"]["shrink"] == "eb"
    assert facts["shrink"]["method"] == "eb" and facts["shrink"]["lambda"] >= 0
    assert f"lambda {facts['shrink']['lambda']:.4g}" in (out / "report.html").read_text()
    (tmp_path / "none").mkdir()
    plain = ranked(tmp_path / "none", capsys)
    assert "shrink" not in json.loads((plain / "run.json").read_text())
    code, _, err = run(["rank", "--judgments", str(tmp_path / "j.jsonl"), "--out",
                        str(tmp_path / "cv"), "--shrink", "cv"], capsys)
    assert code == 2 and "--shrink cv" in err and "--exam-gold" in err


def test_the_report_shows_adjacent_models_tied_where_the_interval_covers_zero(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = ranked(tmp_path, capsys, "--bootstrap", "200", "--seed", "1")
    board = json.loads((out / "leaderboard.json").read_text())
    tied = [(r["model"], r["vs_next"]["b"]) for r in board if r["vs_next"] is not None
            and r["vs_next"]["ci_low"] <= 0 <= r["vs_next"]["ci_high"]]
    assert tied  # on two items the intervals are wide: B and A at least
    html = (out / "report.html").read_text()
    ties = html[html.index('<p id="ties">'):]
    ties = ties[:ties.index("</p>")]
    assert ties == '<p id="ties">Tied (the paired 95% interval of the difference covers 0): ' \
        + "; ".join(f"<b>{a}</b> = <b>{b}</b>" for a, b in tied) + "."
    assert html.count('<td class="l muted">tied</td>') == len(tied)
    assert 'id="comparisons-matrix"' in html
    summary = (out / "summary.md").read_text()
    assert "Tied (paired 95% interval of the difference covers 0): " + "; ".join(
        f"{a} = {b}" for a, b in tied) + "." in summary
