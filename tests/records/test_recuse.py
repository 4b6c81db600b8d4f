"""Recusal: a reviewer's judgments of pairs with its own family's submissions dropped."""

from __future__ import annotations

from pathlib import Path

import pytest

from peerreview.cli import main
from peerreview.errors import InputError
from peerreview.ranking import RankOptions, rank
from peerreview.records.exchange import parse_judgment
from peerreview.records.gold import Gold
from peerreview.records.recuse import Recusal, family_of, read_families, recuse
from peerreview.records.study import study_of
from peerreview.records.table import build_table
from tests.conftest import pt, pw, write_jsonl

ROWS = [pw("t1", "gpt4:v2", "gpt4", "claude", "first"),   # its own: dropped
        pw("t1", "gpt4:v2", "claude", "vicuna", "first"),
        pw("t1", "glm-judge", "glm-4", "vicuna", "first"),  # its family's, by the mapping
        pw("t2", "glm-judge", "claude", "gpt4", "second"),
        pw("t2", "gpt4:v2", "vicuna", "gpt4", "first")]    # its own, on t2


def table_of(rows: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    return build_table([parse_judgment(r, Path("<t>"), k)  # type: ignore[arg-type]
                        for k, r in enumerate(rows, start=1)])


def test_family_of() -> None:
    families = {"glm-judge": "glm", "glm-4": "glm"}
    assert family_of("gpt4:variant", families) == "gpt4"
    assert family_of("glm-judge", families) == "glm"
    assert family_of("claude", families) == "claude"


def test_self_drops_own_and_family_everywhere() -> None:
    table = table_of(ROWS)
    kept, dropped = recuse(table, {"glm-judge": "glm", "glm-4": "glm"}, Recusal.SELF)
    assert dropped == 3
    left = {(table.reviewers[r], table.items[t], table.models[a], table.models[b])
            for r, t, a, b in zip(kept.pairwise.reviewer, kept.pairwise.item,
                                  kept.pairwise.a, kept.pairwise.b, strict=True)}
    assert left == {("gpt4:v2", "t1", "claude", "vicuna"),
                    ("glm-judge", "t2", "claude", "gpt4")}


def test_self_exam_drops_only_on_exam_items() -> None:
    kept, dropped = recuse(table_of(ROWS), {}, Recusal.SELF_EXAM, exam_items={"t2"})
    assert dropped == 1 and len(kept.pairwise) == 4  # t2's gpt4:v2 on (gpt4, vicuna)


def test_scores_of_own_model_dropped() -> None:
    table = table_of([pt("t1", "gpt4", "gpt4", 5), pt("t1", "gpt4", "claude", 3),
                      pt("t1", "gpt4", "vicuna", 4)])
    kept, dropped = recuse(table, {}, Recusal.SELF)
    assert dropped == 1
    assert sorted(table.models[m] for m in kept.scores.model) == ["claude", "vicuna"]


def test_rank_recuses_with_a_note() -> None:
    records = [parse_judgment(r, Path("<t>"), k)  # type: ignore[arg-type]
               for k, r in enumerate(ROWS, start=1)]
    result = rank(study_of(records), options=RankOptions(recuse="self"))
    assert len(result.evidence.votes) == 3
    assert any("--recuse self: 2 judgment(s)" in n for n in result.notes)
    plain = rank(study_of(records))
    assert len(plain.evidence.votes) == 5
    gold = Gold({("t2", "gpt4", "vicuna"): 1}, {})
    exam_only = rank(study_of(records, exam_gold=gold),
                     options=RankOptions(recuse="self-exam", threshold=0.0,
                                         allow_unexamined=True))
    assert any("--recuse self-exam: 1 judgment(s)" in n for n in exam_only.notes)
    with pytest.raises(InputError) as err:
        rank(study_of(records), options=RankOptions(recuse="others"))
    assert err.value.field == "--recuse"


def test_families_file(tmp_path: Path) -> None:
    good = tmp_path / "families.yaml"
    good.write_text("glm-judge: glm\nglm-4: glm\n")
    assert read_families(good) == {"glm-judge": "glm", "glm-4": "glm"}
    (tmp_path / "f.json").write_text('{"a": "x"}')
    assert read_families(tmp_path / "f.json") == {"a": "x"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("- glm\n")
    with pytest.raises(InputError) as err:
        read_families(bad)
    assert err.value.path == str(bad) and err.value.field == "families"
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: x\nb: [\n")
    with pytest.raises(InputError) as err:
        read_families(broken)
    assert err.value.line is not None


def test_cli_recuse_with_families(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    judgments = write_jsonl(tmp_path / "j.jsonl", ROWS)
    families = tmp_path / "families.yaml"
    families.write_text("glm-judge: glm\nglm-4: glm\n")
    code = main(["rank", "--judgments", str(judgments), "--out", str(tmp_path / "out"),
                 "--recuse", "self", "--families", str(families), "--quiet"])
    assert code == 0
    assert "--recuse self: 3 judgment(s)" in capsys.readouterr().err
    code = main(["rank", "--judgments", str(judgments), "--out", str(tmp_path / "o2"),
                 "--families", str(tmp_path / "missing.yaml"), "--quiet"])
    assert code == 2


def test_self_preference_interval_by_hand() -> None:
    # gpt4 lets itself win on all 4 items; claude gives gpt4 items t1, t2 and not t3, t4.
    rows = []
    for t in range(1, 5):
        rows.append(pw(f"t{t}", "gpt4", "gpt4", "vicuna", "first"))
        rows.append(pw(f"t{t}", "claude", "gpt4", "vicuna", "first" if t <= 2 else "second"))
    table = table_of(rows)
    from peerreview.report.diagnostics import biases

    plain = {b.reviewer: b for b in biases(table, {}, {})}
    assert plain["gpt4"].self_preference == 0.5 and plain["gpt4"].self_low is None
    (gpt4,) = [b for b in biases(table, {}, {}, n_boot=2000) if b.reviewer == "gpt4"]
    # Resampling 4 items, claude's rate for gpt4 is 0 (all draws in t3, t4) or 1 with
    # probability 1/16 each, more than 2.5%: the interval is [1 - 1, 1 - 0].
    assert (gpt4.self_preference, gpt4.self_low, gpt4.self_high) == (0.5, 0.0, 1.0)


def test_a_run_configs_families_and_chair_options_reach_rank() -> None:
    from peerreview.live.config import RunConfig
    from peerreview.live.inputs import rank_options

    python = {"provider": "python", "function": "m:f"}
    base = {"task": {"items": "items.jsonl"}, "models": {"a": python, "b": python},
            "evaluatees": ["a", "b"], "reviewers": ["a"]}
    default = rank_options(RunConfig.model_validate(base))
    assert (default.control, default.calibrate_bias, default.recuse, default.families) == \
        ((), False, "none", {})
    given = rank_options(RunConfig.model_validate({
        **base, "families": {"a": "fam", "b": "fam"},
        "chair": {"control": ["length", "markdown"], "calibrate_bias": True,
                  "recuse": "self"}}))
    assert (given.control, given.calibrate_bias, given.recuse, given.families) == \
        (("length", "markdown"), True, "self", {"a": "fam", "b": "fam"})
    with pytest.raises(ValueError, match="recuse"):
        RunConfig.model_validate({**base, "chair": {"recuse": "others"}})
