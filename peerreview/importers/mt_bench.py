"""MT-Bench in FastChat llm_judge's layout: ``question.jsonl``, ``model_answer/*.jsonl``,
and where present ``model_judgment/*_pair.jsonl`` (the LLM judges) and a human
judgments file (``*human*.json`` or ``.jsonl``: the gold).

MT-Bench judges each question at two turns. Turn 1's item is the question's first
turn (``<question_id>``); turn 2's (``<question_id>-turn2``) is the whole
conversation, so a reviewer sees every turn: its input holds both user turns, and
each submission the model's whole conversation. Pair judgments hold both orders:
``g1`` shows model_1 first, ``g2`` model_2; an ``error`` verdict is an abstention.
Human votes name ``model_a``/``model_b`` and the winner (a tie, bothbad or not, is a
tie); each annotator (``expert_3``) is a gold reviewer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peerreview.errors import InputError
from peerreview.importers import ImportedSet, load_json, require_dir
from peerreview.records import Item, Judgment, PairwiseJudgment, Submission, Winner, iter_jsonl


def _item(question_id: Any, turn: int) -> str:
    return str(question_id) if turn == 1 else f"{question_id}-turn2"


def _conversation(questions: list[str], answers: list[str], turn: int) -> str:
    if turn == 1:
        return answers[0]
    return "\n\n".join(f"User: {q}\n\nAssistant: {a}"
                       for q, a in zip(questions[:turn], answers[:turn], strict=True))


def _text(value: Any, path: Path, line: int, field: str) -> str:
    if isinstance(value, dict):  # arena-hard-style turns: {"content": ...}
        value = value.get("content")
    if not isinstance(value, str):
        raise InputError("expected text", path, line, field)
    return value


def import_mt_bench(path: str | Path) -> ImportedSet:
    """Import an MT-Bench folder (FastChat ``data/mt_bench``)."""
    root = Path(path)
    require_dir(root, "MT-Bench folder (question.jsonl, model_answer/)")
    questions: dict[str, list[str]] = {}
    items: list[Item] = []
    qfile = root / "question.jsonl"
    for line, q in iter_jsonl(qfile):
        turns = q.get("turns")
        if "question_id" not in q or not isinstance(turns, list) or not turns:
            raise InputError("expected question_id and a list of turns", qfile, line, "turns")
        texts = [_text(t, qfile, line, "turns") for t in turns]
        qid = str(q["question_id"])
        questions[qid] = texts
        meta = {"category": q.get("category"), "question_id": q["question_id"]}
        for turn in range(1, len(texts) + 1):
            items.append(Item(_item(qid, turn), "\n\n".join(texts[:turn]),
                              (q.get("reference") or [None] * turn)[turn - 1]
                              if isinstance(q.get("reference"), list) else None,
                              {**meta, "turn": turn}))
    submissions = _answers(root, questions)
    judgments = _pair_judgments(root)
    gold = _human(root)
    return ImportedSet(items, submissions, judgments, gold, [])


def _answers(root: Path, questions: dict[str, list[str]]) -> list[Submission]:
    folder = root / "model_answer"
    require_dir(folder, "model_answer/ folder of one JSON Lines file per model")
    out: list[Submission] = []
    for file in sorted(folder.glob("*.jsonl")):
        for line, a in iter_jsonl(file):
            qid, model = str(a.get("question_id")), str(a.get("model_id") or file.stem)
            if qid not in questions:
                raise InputError(f"question {qid!r} is not in question.jsonl", file, line,
                                 "question_id")
            choices = a.get("choices")
            turns = choices[0].get("turns") if isinstance(choices, list) and choices and \
                isinstance(choices[0], dict) else None
            if not isinstance(turns, list) or not turns:
                raise InputError("expected choices[0].turns, the model's answers", file, line,
                                 "choices")
            answers = [_text(t, file, line, "choices") for t in turns]
            for turn in range(1, min(len(answers), len(questions[qid])) + 1):
                out.append(Submission(_item(qid, turn), model,
                                      _conversation(questions[qid], answers, turn)))
    return out


_PAIR: dict[str, str] = {"model_1": "model_1", "model_2": "model_2", "tie": "tie"}


def _pair_judgments(root: Path) -> list[Judgment]:
    out: list[Judgment] = []
    for file in sorted((root / "model_judgment").glob("*_pair.jsonl")):
        for line, j in iter_jsonl(file):
            if not j.get("model_1") or not j.get("model_2") or "question_id" not in j:
                raise InputError("expected question_id, model_1 and model_2", file, line,
                                 "model_1")
            m1, m2 = str(j["model_1"]), str(j["model_2"])
            judge = j.get("judge")
            reviewer = str(judge[0] if isinstance(judge, list) and judge else judge or file.stem)
            item = _item(j.get("question_id"), int(j.get("turn") or 1))
            for first, second, key, text in ((m1, m2, "g1_winner", "g1_judgment"),
                                             (m2, m1, "g2_winner", "g2_judgment")):
                said = _PAIR.get(str(j.get(key)))  # "error": unreadable
                winner: Winner | None = None if said is None else "tie" if said == "tie" else (
                    "first" if (said == "model_1") == (first == m1) else "second")
                out.append(PairwiseJudgment(item, reviewer, first, second, winner,
                                            j.get(text) if isinstance(j.get(text), str)
                                            else None))
    return out


def _human(root: Path) -> list[Judgment]:
    out: list[Judgment] = []
    for file in sorted(p for p in root.glob("*human*") if p.suffix in (".json", ".jsonl")):
        rows = list(iter_jsonl(file)) if file.suffix == ".jsonl" else \
            list(enumerate(load_json(file), start=1))
        for line, v in rows:
            if not isinstance(v, dict) or "model_a" not in v or "winner" not in v:
                raise InputError("expected {question_id, model_a, model_b, winner, judge, "
                                 "turn}", file, line, "winner")
            winner = str(v["winner"])
            said: Winner | None = "first" if winner == "model_a" else "second" \
                if winner == "model_b" else "tie" if winner.startswith("tie") else None
            out.append(PairwiseJudgment(_item(v.get("question_id"), int(v.get("turn") or 1)),
                                        str(v.get("judge")), str(v["model_a"]),
                                        str(v["model_b"]), said))
    return out
