"""Bring your own outputs: alpaca_eval, MT-Bench (FastChat llm_judge) and arena-hard
files, written here in each tool's own shapes, imported into the exchange format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from peerreview.cli import main
from peerreview.errors import InputError
from peerreview.importers import importer
from peerreview.importers.alpaca_eval import item_id
from peerreview.records.exchange import PairwiseJudgment
from peerreview.testing.stub import StubServer
from tests.conftest import write_jsonl


def alpaca_outputs(folder: Path) -> list[Path]:
    """Two models' outputs as alpaca_eval keeps them: a JSON list and JSON Lines."""
    instructions = [f"Question {k}: name a prime number above {10 * k}." for k in range(6)]
    strong = [{"instruction": q, "output": "correct correct correct " + q,
               "generator": "strong", "dataset": "helpful_base"} for q in instructions]
    weak = [{"instruction": q, "output": "maybe " + q, "generator": "weak"}
            for q in reversed(instructions)]
    (folder / "strong.json").write_text(json.dumps(strong, indent=2))
    return [folder / "strong.json", write_jsonl(folder / "weak.jsonl", weak)]


def test_alpaca_eval_ids_are_stable_across_files_and_order(tmp_path: Path) -> None:
    files = alpaca_outputs(tmp_path)
    data = importer("alpaca-eval")(*files)
    again = importer("alpaca-eval")(*reversed(files))
    assert [i.item for i in data.items] == [i.item for i in again.items]
    assert len(data.items) == 6 and len(data.submissions) == 12
    q0 = "Question 0: name a prime number above 0."
    assert item_id(q0) in {i.item for i in data.items}
    assert item_id(q0) == "ae-" + __import__("hashlib").sha256(q0.encode()).hexdigest()[:12]
    assert next(i for i in data.items if i.item == item_id(q0)).meta == {
        "dataset": "helpful_base"}
    assert set(data.files()) == {"items.jsonl", "submissions.jsonl"}


def test_alpaca_eval_bad_record_names_file_position_and_field(tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps([{"instruction": "x", "output": "y", "generator": "m"},
                                {"instruction": "x", "output": "y"}]))
    with pytest.raises(InputError) as caught:
        importer("alpaca-eval")(path)
    assert (caught.value.path, caught.value.line, caught.value.field) == (
        str(path), 1, "generator")  # the list is on one line
    assert caught.value.message.endswith("(record 2 of the list)")


def test_from_alpaca_eval_outputs_to_a_leaderboard_naming_only_reviewers(
        tmp_path: Path) -> None:
    files = alpaca_outputs(tmp_path)
    assert main(["import", "alpaca-eval", *map(str, files), "--out",
                 str(tmp_path / "data")]) == 0
    with StubServer() as server:
        judge = {"provider": "openai", "base_url": server.url, "concurrency": 4}
        config = {"task": {"items": "data/items.jsonl",
                           "submissions": "data/submissions.jsonl"},
                  "models": {"judge-1": {**judge, "model": "judge-1"},
                             "judge-2": {**judge, "model": "judge-2"}},
                  "reviewers": ["judge-1", "judge-2"], "chair": {"bootstrap": 0}}
        path = tmp_path / "run.yaml"
        path.write_text(yaml.safe_dump(config))
        assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
        assert server.state.calls["strong"] == server.state.calls["weak"] == 0
        assert server.state.calls["judge-1"] == 6 * 2
    board = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    assert [(r["model"], r["score"]) for r in board] == [("strong", 1.0), ("weak", 0.0)]
    # Naming an evaluatee that has no submission is the error.
    config["evaluatees"] = ["strong", "medium"]
    path.write_text(yaml.safe_dump(config))
    assert main(["run", str(path), "--out", str(tmp_path / "o2"), "--quiet"]) == 2


def mt_bench_folder(root: Path) -> Path:
    """FastChat llm_judge's data/mt_bench layout, two questions, two models."""
    root.mkdir(parents=True)
    write_jsonl(root / "question.jsonl", [
        {"question_id": 81, "category": "writing",
         "turns": ["Write a haiku about rain.", "Now make it about snow."]},
        {"question_id": 111, "category": "math", "turns": ["What is 2+2?", "And 3+3?"],
         "reference": ["4", "6"]}])
    (root / "model_answer").mkdir()
    for model, words in (("vicuna-13b-v1.3", "ok"), ("gpt-4", "good")):
        write_jsonl(root / "model_answer" / f"{model}.jsonl", [
            {"question_id": q, "answer_id": f"{model}-{q}", "model_id": model,
             "choices": [{"index": 0, "turns": [f"{words} {q} one", f"{words} {q} two"]}],
             "tstamp": 1687000000.0} for q in (81, 111)])
    (root / "model_judgment").mkdir()
    write_jsonl(root / "model_judgment" / "gpt-4_pair.jsonl", [
        {"question_id": 81, "model_1": "gpt-4", "model_2": "vicuna-13b-v1.3",
         "g1_winner": "model_1", "g2_winner": "model_1", "judge": ["gpt-4", "pair-v2"],
         "g1_user_prompt": "...", "g1_judgment": "A is better. [[A]]",
         "g2_user_prompt": "...", "g2_judgment": "B is better. [[B]]", "turn": 1,
         "tstamp": 1687222000.0},
        {"question_id": 111, "model_1": "gpt-4", "model_2": "vicuna-13b-v1.3",
         "g1_winner": "tie", "g2_winner": "error", "judge": ["gpt-4", "pair-math-v1-multi-turn"],
         "g1_user_prompt": "...", "g1_judgment": "[[C]]", "g2_user_prompt": "...",
         "g2_judgment": "unclear", "turn": 2, "tstamp": 1687222001.0}])
    (root / "human_judgments.json").write_text(json.dumps([
        {"question_id": 81, "model_a": "vicuna-13b-v1.3", "model_b": "gpt-4",
         "winner": "model_b", "judge": "expert_0", "turn": 1},
        {"question_id": 111, "model_a": "gpt-4", "model_b": "vicuna-13b-v1.3",
         "winner": "tie (bothbad)", "judge": "author_2", "turn": 2}]))
    return root


def test_mt_bench_keeps_both_orders_every_turn_and_human_gold(tmp_path: Path) -> None:
    data = importer("mt-bench")(mt_bench_folder(tmp_path / "mt_bench"))
    assert [i.item for i in data.items] == ["81", "81-turn2", "111", "111-turn2"]
    turn2 = next(i for i in data.items if i.item == "111-turn2")
    assert turn2.input == "What is 2+2?\n\nAnd 3+3?" and turn2.reference == "6"
    conversation = next(s for s in data.submissions
                        if s.item == "111-turn2" and s.model == "gpt-4").output
    assert conversation == ("User: What is 2+2?\n\nAssistant: good 111 one\n\n"
                            "User: And 3+3?\n\nAssistant: good 111 two")
    said = {(j.item, j.first, j.second): j.winner for j in data.judgments
            if isinstance(j, PairwiseJudgment)}
    assert said == {("81", "gpt-4", "vicuna-13b-v1.3"): "first",    # g1: model_1 won
                    ("81", "vicuna-13b-v1.3", "gpt-4"): "second",   # g2: model_1, shown 2nd
                    ("111-turn2", "gpt-4", "vicuna-13b-v1.3"): "tie",
                    ("111-turn2", "vicuna-13b-v1.3", "gpt-4"): None}  # "error"
    assert {j.reviewer for j in data.judgments} == {"gpt-4"}
    gold = {(j.item, j.reviewer, j.first, j.second): j.winner for j in data.gold
            if isinstance(j, PairwiseJudgment)}
    assert gold == {("81", "expert_0", "vicuna-13b-v1.3", "gpt-4"): "second",
                    ("111-turn2", "author_2", "gpt-4", "vicuna-13b-v1.3"): "tie"}


def arena_hard_folder(root: Path, version: str) -> Path:
    """arena-hard-auto's data/<bench> layout in v0.1's or v2's shapes."""
    (root / "model_answer").mkdir(parents=True)
    (root / "model_judgment" / "gpt-4-1106-preview").mkdir(parents=True)
    qs = ["328c149ed45a41c0b9d6f14659e63599", "b9a78084b1a14f4d9177f22cf1129d22"]
    if version == "v0.1":
        write_jsonl(root / "question.jsonl", [
            {"question_id": q, "category": "arena-hard-v0.1", "cluster": "c",
             "turns": [{"content": f"Prompt {k}"}]} for k, q in enumerate(qs)])
        for model in ("gpt-4-0314", "llama-3-8b"):
            write_jsonl(root / "model_answer" / f"{model}.jsonl", [
                {"question_id": q, "answer_id": "x", "model_id": model,
                 "choices": [{"index": 0, "turns": [{"content": f"{model} on {q}",
                                                     "token_len": 5}]}], "tstamp": 1.0}
                for q in qs])
        games: list[dict[str, Any]] = [
            {"user_prompt": "...", "judgment": "A is far better. [[A>>B]]", "score": "A>>B"},
            {"user_prompt": "...", "judgment": "Same. [[A=B]]", "score": "A=B"}]
        write_jsonl(root / "model_judgment" / "gpt-4-1106-preview" / "llama-3-8b.jsonl", [
            {"question_id": qs[0], "model": "llama-3-8b", "judge": "gpt-4-1106-preview",
             "games": games},
            {"question_id": qs[1], "model": "llama-3-8b", "judge": "gpt-4-1106-preview",
             "games": [{"user_prompt": "...", "judgment": "?", "score": None},
                       {"user_prompt": "...", "judgment": "[[B>A]]", "score": "B>A"}]}])
    else:
        write_jsonl(root / "question.jsonl", [
            {"uid": q, "category": "hard_prompt", "subcategory": "coding",
             "prompt": f"Prompt {k}"} for k, q in enumerate(qs)])
        for model in ("o3-mini", "llama-3-8b"):
            write_jsonl(root / "model_answer" / f"{model}.jsonl", [
                {"uid": q, "ans_id": "x", "model": model, "tstamp": 1.0, "metadata": {},
                 "messages": [{"role": "user", "content": f"Prompt {k}"},
                              {"role": "assistant", "content": {"answer": f"{model} {q}"}}]}
                for k, q in enumerate(qs)])
        write_jsonl(root / "model_judgment" / "gpt-4-1106-preview" / "llama-3-8b.jsonl", [
            {"uid": qs[0], "category": "hard_prompt", "judge": "gpt-4-1106-preview",
             "model": "llama-3-8b", "baseline": "o3-mini",
             "games": [{"score": "B>A", "judgment": {"answer": "[[B>A]]"}, "prompt": []},
                       {"score": "A>>B", "judgment": {"answer": "[[A>>B]]"}, "prompt": []}]}])
    return root


def test_arena_hard_v01_games_against_the_baseline(tmp_path: Path) -> None:
    data = importer("arena-hard")(arena_hard_folder(tmp_path / "ah", "v0.1"))
    assert len(data.items) == 2 and len(data.submissions) == 4
    said = [(j.item[:4], j.first, j.second, j.winner, j.strength) for j in data.judgments
            if isinstance(j, PairwiseJudgment)]
    assert said == [
        ("328c", "gpt-4-0314", "llama-3-8b", "first", 2),  # game 1: the baseline is A
        ("328c", "llama-3-8b", "gpt-4-0314", "tie", None),
        ("b9a7", "gpt-4-0314", "llama-3-8b", None, None),  # no score: an abstention
        ("b9a7", "llama-3-8b", "gpt-4-0314", "second", None)]
    assert data.judgments[0].raw == "A is far better. [[A>>B]]"


def test_arena_hard_v2_names_its_baseline_and_reads_messages(tmp_path: Path) -> None:
    data = importer("arena-hard")(arena_hard_folder(tmp_path / "ah2", "v2"))
    assert {s.output for s in data.submissions if s.model == "o3-mini"} == {
        "o3-mini 328c149ed45a41c0b9d6f14659e63599", "o3-mini b9a78084b1a14f4d9177f22cf1129d22"}
    said = [(j.first, j.second, j.winner, j.strength) for j in data.judgments
            if isinstance(j, PairwiseJudgment)]
    assert said == [("o3-mini", "llama-3-8b", "second", None),
                    ("llama-3-8b", "o3-mini", "first", 2)]
    files = data.files()
    assert set(files) == {"items.jsonl", "submissions.jsonl", "judgments.jsonl"}
    first = json.loads(files["judgments.jsonl"].splitlines()[1])
    assert first["strength"] == 2 and first["raw"] == "[[A>>B]]"
