"""The imports of alpaca_eval, arena-hard-auto and FastChat's MT-Bench files, checked
against each tool's own numbers, computed by hand by its own rule, on the small
fixtures in tests/fixtures (written in the tools' shapes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peerreview.cli import main
from peerreview.errors import InputError
from peerreview.importers import ImportedSet, import_set
from peerreview.importers.alpaca_eval import read_preference
from peerreview.records.exchange import PairwiseJudgment, PointwiseJudgment, judgment_to_dict

FIXTURES = Path(__file__).parents[1] / "fixtures"
ALPACA = FIXTURES / "alpaca_eval" / "results"
ARENA = FIXTURES / "arena_hard"
MT_BENCH = FIXTURES / "mt_bench"
REFERENCE = "gpt4_1106_preview"


def scores(folder: Path) -> dict[str, float]:
    rows = json.loads((folder / "leaderboard.json").read_text())
    return {r["model"]: r["score"] for r in rows}


def write_judgments(path: Path, data: ImportedSet, kind: type) -> Path:
    path.write_text("".join(json.dumps(judgment_to_dict(j)) + "\n" for j in data.judgments
                            if isinstance(j, kind)))
    return path


def test_alpaca_eval_preference_is_read_as_alpaca_eval_reads_it() -> None:
    assert read_preference(1) == ("first", None) and read_preference(2.0) == ("second", None)
    assert read_preference(1.5) == ("tie", None) and read_preference(0) == ("tie", None)
    assert read_preference(1.9)[0] == "second" and read_preference(1.9)[1] == pytest.approx(0.1)
    assert read_preference(1.25)[0] == "first"
    assert read_preference(1.25)[1] == pytest.approx(0.75)
    for dropped in (None, float("nan"), 3, -1, 0.5):  # "not a preference"
        assert read_preference(dropped) == (None, None)
    assert read_preference("2.0") == ("second", None)  # alpaca_eval reads astype(float)
    with pytest.raises(ValueError, match="expected a number"):
        read_preference("two")
    with pytest.raises(ValueError, match="expected a number"):
        read_preference(True)


def alpaca_files() -> list[str]:
    return [str(p) for p in sorted(ALPACA.glob("*/model_outputs.json"))
            + sorted(ALPACA.glob("*/*/annotations.json"))]


def test_alpaca_eval_annotations_become_the_judges_judgments() -> None:
    data = import_set("alpaca-eval", list(alpaca_files()))
    assert len(data.items) == 4 and len(data.submissions) == 12  # 3 generators x 4
    assert data.warnings == []
    # The reference's annotations against itself (kept by alpaca_eval) are no judgment.
    assert "4 annotation(s) of a model against itself left out" in data.notes
    by_judge: dict[str, list[PairwiseJudgment]] = {}
    for j in data.judgments:
        assert isinstance(j, PairwiseJudgment) and j.first == REFERENCE
        by_judge.setdefault(j.reviewer, []).append(j)
    soft, hard = by_judge["weighted_alpaca_eval_gpt4_turbo"], by_judge["alpaca_eval_gpt4"]
    assert {j.second for j in soft} == {"model-x"} and {j.second for j in hard} == {"model-y"}

    # alpaca_eval's win rate (metrics/helpers.py): the mean of preference - 1 over the
    # preferences in [1, 2] (0 read as 1.5, null dropped), x 100; the discrete win rate
    # rounds each preference first (1.5 a draw, counted half).
    # model-x's preferences are 1.9, 1.4, 1.6, 1.5; model-y's 2, 2, 0, null.
    def p_second(j: PairwiseJudgment) -> float:
        if j.p_first is not None:
            return 1 - j.p_first
        return {"second": 1.0, "first": 0.0, "tie": 0.5}[str(j.winner)]

    assert 100 * sum(map(p_second, soft)) / 4 == pytest.approx((0.9 + 0.4 + 0.6 + 0.5) / 4 * 100)
    assert 100 * sum(map(p_second, soft)) / 4 == pytest.approx(60.0)
    assert sorted(str(j.winner) for j in soft) == ["first", "second", "second", "tie"]
    assert 100 * sum(p_second(j) for j in soft if j.p_first is None) == 50.0  # the 1.5
    read = [j for j in hard if j.winner is not None]
    assert len(read) == 3 and 100 * sum(map(p_second, read)) / 3 == pytest.approx(250 / 3)


def test_alpaca_eval_judgments_rank_with_the_judges_discrete_win_rate(tmp_path: Path) -> None:
    assert main(["import", "alpaca-eval", *alpaca_files(), "--out", str(tmp_path / "d")]) == 0
    lines = (tmp_path / "d" / "judgments.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["p_first"] == pytest.approx(0.1)
    model_x = tmp_path / "x.jsonl"
    model_x.write_text("".join(line + "\n" for line in lines if "model-x" in line))
    assert main(["rank", "--judgments", str(model_x), "--baseline", REFERENCE, "--out",
                 str(tmp_path / "r"), "--quiet"]) == 0
    # alpaca_eval's discrete_win_rate of model-x: (2 wins + 1 draw / 2) / 4 = 62.5%.
    assert scores(tmp_path / "r")["model-x"] == pytest.approx(0.625)


def test_arena_hard_v01_finds_the_baseline_in_game_1_and_drops_its_self_games(
        tmp_path: Path) -> None:
    data = import_set("arena-hard", [ARENA / "arena-hard-v0.1"])
    base = "claude-3-7-sonnet-20250219"
    assert data.notes == [f"baseline {base!r}: its answers are assistant A in game 1 of the "
                          "judgments",
                          f"3 judgment(s) of the baseline {base!r} against itself left out"]
    pairs = [j for j in data.judgments if isinstance(j, PairwiseJudgment)]
    assert len(pairs) == 12 and all(base in (j.first, j.second) and j.first != j.second
                                    for j in pairs)
    assert [j.first for j in pairs[:2]] == [base, "llama-3-8b-instruct"]  # game 1, game 2
    strong = [(j.first, j.winner) for j in pairs if j.strength == 2]
    assert strong == [(base, "first"), ("llama-3-8b-instruct", "second"),
                      ("qwen2.5-7b-instruct", "first"), (base, "second")]
    assert main(["import", "arena-hard", str(ARENA / "arena-hard-v0.1"), "--out",
                 str(tmp_path / "d")]) == 0
    assert main(["rank", "--judgments", str(tmp_path / "d" / "judgments.jsonl"), "--out",
                 str(tmp_path / "r"), "--quiet"]) == 0
    assert scores(tmp_path / "r") == {"qwen2.5-7b-instruct": 1.0, base: 0.5,
                                      "llama-3-8b-instruct": 0.0}


def test_arena_hard_baseline_named_or_refused(tmp_path: Path) -> None:
    v01 = ARENA / "arena-hard-v0.1"
    with pytest.raises(InputError, match="no model 'gpt-4-0314' here"):
        import_set("arena-hard", [v01], baseline="gpt-4-0314")  # the old silent default
    chosen = import_set("arena-hard", [v01], baseline="qwen2.5-7b-instruct")
    assert all(isinstance(j, PairwiseJudgment) and "qwen2.5-7b-instruct" in (j.first, j.second)
               for j in chosen.judgments)  # as told, but not without a word:
    assert chosen.warnings == ["--baseline 'qwen2.5-7b-instruct', but game 1 of the judgments "
                               "shows claude-3-7-sonnet-20250219 as assistant A"]
    # v2 names a baseline per category: two here, so one must be chosen.
    v2 = ARENA / "arena-hard-v2.0"
    with pytest.raises(InputError, match="the judgments name 2 baselines: o3-mini-2025-01-31 "
                                         r"\(2 judgments\), gemini-2.0-flash-001 \(1"):
        import_set("arena-hard", [v2])
    assert main(["import", "arena-hard", str(v2), "--out", str(tmp_path / "o")]) == 2
    data = import_set("arena-hard", [v2], baseline="o3-mini-2025-01-31")
    assert [(j.first, j.second, j.winner, j.strength) for j in data.judgments
            if isinstance(j, PairwiseJudgment)] == [
        ("o3-mini-2025-01-31", "qwq-32b", "second", None), ("qwq-32b", "o3-mini-2025-01-31",
                                                             "first", 2),
        ("o3-mini-2025-01-31", "qwq-32b", "tie", None), ("qwq-32b", "o3-mini-2025-01-31",
                                                         "second", None)]
    assert data.notes == ["1 judgment(s) against another baseline than 'o3-mini-2025-01-31' "
                          "left out"]


def test_mt_bench_single_judgments_are_scores_with_fastchats_means(tmp_path: Path) -> None:
    data = import_set("mt-bench", [MT_BENCH])
    single = [j for j in data.judgments if isinstance(j, PointwiseJudgment)]
    assert len(single) == 12 and {j.reviewer for j in single} == {"gpt-4:single"}
    assert {j.scale for j in single} == {(1.0, 10.0)}
    assert [j.score for j in single if j.model == "llama-13b"] == [3, None, 2, 1]  # -1: none
    # show_result.py --mode single: the mean over the rows whose score is not -1.
    fastchat = {"gpt-4": (9 + 10 + 8 + 7.5) / 4, "vicuna-13b-v1.3": (7 + 2 + 6 + 3) / 4,
                "llama-13b": (3 + 2 + 1) / 3}
    path = write_judgments(tmp_path / "single.jsonl", data, PointwiseJudgment)
    assert main(["rank", "--judgments", str(path), "--out", str(tmp_path / "r"),
                 "--quiet"]) == 0
    assert scores(tmp_path / "r") == pytest.approx(fastchat)


def test_mt_bench_fastchat_tie_rule_gives_fastchats_win_rates(tmp_path: Path) -> None:
    as_judged = import_set("mt-bench", [MT_BENCH])
    data = import_set("mt-bench", [MT_BENCH], ties="fastchat")
    said = [(j.item, j.first, j.second, j.winner) for j in data.judgments
            if isinstance(j, PairwiseJudgment)]
    assert said == [("81", "gpt-4", "vicuna-13b-v1.3", "first"),
                    ("81", "vicuna-13b-v1.3", "gpt-4", "second"),
                    ("81", "gpt-4", "llama-13b", "tie"), ("81", "llama-13b", "gpt-4", "tie"),
                    ("81-turn2", "vicuna-13b-v1.3", "llama-13b", "tie"),
                    ("81-turn2", "llama-13b", "vicuna-13b-v1.3", "tie")]
    assert data.notes == ["FastChat's tie rule: 1 pair(s) with an error game left out, "
                          "2 pair(s) whose two orders disagree made ties"]
    assert sum(isinstance(j, PairwiseJudgment) for j in as_judged.judgments) == 8
    # show_result.py --mode pairwise-all: win_rate_adjusted = (win + tie / 2) / games.
    fastchat = {"gpt-4": (1 + 0.5) / 2, "vicuna-13b-v1.3": (0 + 0.5) / 2,
                "llama-13b": (0.5 + 0.5) / 2}
    path = write_judgments(tmp_path / "pairs.jsonl", data, PairwiseJudgment)
    assert main(["rank", "--judgments", str(path), "--out", str(tmp_path / "r"),
                 "--quiet"]) == 0
    assert scores(tmp_path / "r") == pytest.approx(fastchat)
    assert main(["import", "mt-bench", str(MT_BENCH), "--ties", "fastchat", "--out",
                 str(tmp_path / "d")]) == 0


def test_mt_bench_folder_without_answers_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model_answer").mkdir()
    (tmp_path / "question.jsonl").write_text((MT_BENCH / "question.jsonl").read_text())
    with pytest.raises(InputError, match=r"no \*\.jsonl files") as caught:
        import_set("mt-bench", [tmp_path])
    assert caught.value.path == str(tmp_path / "model_answer")
    assert main(["import", "mt-bench", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
