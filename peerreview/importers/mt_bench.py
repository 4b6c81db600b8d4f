"""MT-Bench in FastChat llm_judge's layout: ``question.jsonl``, ``model_answer/*.jsonl``,
and where present ``model_judgment/*_single.jsonl`` and ``*_pair.jsonl`` (the LLM
judges) and a human judgments file (``*human*.json`` or ``.jsonl``: the gold).

MT-Bench judges each question at two turns. Turn 1's item is the question's first
turn (``<question_id>``); turn 2's (``<question_id>-turn2``) is the whole
conversation, so a reviewer sees every turn: its input holds both user turns, and
each submission the model's whole conversation.

- Single judgments (FastChat's default mode) are pointwise: reviewer
  ``<judge>:single``, a score on [1, 10]; FastChat's ``-1`` (no rating found) is an
  abstention.
- Pair judgments hold both orders: ``g1`` shows model_1 first, ``g2`` model_2; an
  ``error`` verdict is an abstention. With ``ties="fastchat"`` each pair is
  resolved as FastChat's ``show_result.py`` does before it is written: a pair with
  an ``error`` game is left out, a win in one order and a tie or the other win in
  the other is a tie, and the resolved verdict is written for both orders.
- Human votes name ``model_a``/``model_b`` and the winner (a tie, bothbad or not, is
  a tie); each annotator (``expert_3``) is a gold reviewer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peerreview.errors import InputError
from peerreview.importers.imported import ImportedSet, require_dir
from peerreview.importers.shape import SubmissionPool, shape_warnings
from peerreview.importers.sources import Place, jsonl_records, read_records
from peerreview.records.exchange import Item, Judgment, PairwiseJudgment, PointwiseJudgment, Winner

TIES = ("as-judged", "fastchat")
SCALE = (1.0, 10.0)  # FastChat's single-answer grading
_SAID = ("model_1", "model_2", "tie")


def _item(question_id: Any, turn: int) -> str:
    return str(question_id) if turn == 1 else f"{question_id}-turn{turn}"


def _conversation(questions: list[str], answers: list[str], turn: int) -> str:
    if turn == 1:
        return answers[0]
    return "\n\n".join(f"User: {q}\n\nAssistant: {a}"
                       for q, a in zip(questions[:turn], answers[:turn], strict=True))


def _text(value: Any, place: Place, field: str) -> str:
    if isinstance(value, dict):  # arena-hard-style turns: {"content": ...}
        value = value.get("content")
    if not isinstance(value, str):
        raise place.source.error(place.position, "expected text", field)
    return value


def import_mt_bench(path: str | Path, *, ties: str = "as-judged",
                    keep_first: bool = False) -> ImportedSet:
    """Import an MT-Bench folder (FastChat ``data/mt_bench``).

    Args:
        path: the folder.
        ties: ``as-judged`` keeps each order's verdict; ``fastchat`` resolves each pair
            by FastChat's rule (see the module's docstring).
        keep_first: a model answering a question twice with different answers keeps
            the first (else an error naming both records).

    Raises:
        InputError: a missing file or folder, no answers, or a malformed record.
    """
    if ties not in TIES:
        raise InputError(f"unknown tie rule {ties!r}; choose from {', '.join(TIES)}",
                         field="--ties")
    root = Path(path)
    require_dir(root, "MT-Bench folder (question.jsonl, model_answer/)")
    questions: dict[str, list[str]] = {}
    items: list[Item] = []
    for place, q in jsonl_records(root / "question.jsonl"):
        turns = q.get("turns")
        if "question_id" not in q or not isinstance(turns, list) or not turns:
            raise place.source.error(place.position, "expected question_id and a list of "
                                                     "turns", "turns")
        texts = [_text(t, place, "turns") for t in turns]
        qid = str(q["question_id"])
        questions[qid] = texts
        meta = {"category": q.get("category"), "question_id": q["question_id"]}
        given = q.get("reference")
        refs: list[Any] = given if isinstance(given, list) else []
        for turn in range(1, len(texts) + 1):
            ref = refs[turn - 1] if turn <= len(refs) and isinstance(refs[turn - 1], str) \
                else None
            items.append(Item(_item(qid, turn), "\n\n".join(texts[:turn]), ref,
                              {**meta, "turn": turn}))
    pool = SubmissionPool(keep_first)
    _answers(root, questions, pool)
    notes = pool.notes()
    known = {i.item for i in items}
    judgments = _single_judgments(root, known) + _pair_judgments(root, known, ties, notes)
    gold = _human(root)
    folder = root / "model_judgment"
    unread = sorted(f.name for f in folder.glob("*.jsonl")
                    if not f.name.endswith(("_pair.jsonl", "_single.jsonl")))
    warnings = shape_warnings(items, pool.submissions, judgments)
    if unread:
        warnings.append(f"model_judgment/ files read by no rule (expected *_single.jsonl or "
                        f"*_pair.jsonl): {', '.join(unread)}")
    return ImportedSet(items, pool.submissions, judgments, gold, notes, warnings)


def _answers(root: Path, questions: dict[str, list[str]], pool: SubmissionPool) -> None:
    folder = root / "model_answer"
    require_dir(folder, "model_answer/ folder of one JSON Lines file per model")
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise InputError("no *.jsonl files; expected one JSON Lines file of answers per "
                         "model (FastChat's model_answer/<model>.jsonl)", folder)
    for file in files:
        for place, a in jsonl_records(file):
            qid, model = str(a.get("question_id")), str(a.get("model_id") or file.stem)
            if qid not in questions:
                raise place.source.error(place.position,
                                         f"question {qid!r} is not in question.jsonl",
                                         "question_id")
            choices = a.get("choices")
            turns = choices[0].get("turns") if isinstance(choices, list) and choices and \
                isinstance(choices[0], dict) else None
            if not isinstance(turns, list) or not turns:
                raise place.source.error(place.position, "expected choices[0].turns, the "
                                                         "model's answers", "choices")
            answers = [_text(t, place, "choices") for t in turns]
            for turn in range(1, min(len(answers), len(questions[qid])) + 1):
                pool.add(_item(qid, turn), model,
                         _conversation(questions[qid], answers, turn), place)


def _judge(j: dict[str, Any], file: Path, suffix: str) -> str:
    judge = j.get("judge")  # [model, prompt name]
    name = judge[0] if isinstance(judge, list) and judge else judge
    return str(name) if name else file.name.removesuffix(suffix)


def _turn_item(j: dict[str, Any], place: Place, known: set[str]) -> str:
    turn = j.get("turn") or 1
    if "question_id" not in j or isinstance(turn, bool) or not isinstance(turn, int):
        raise place.source.error(place.position, "expected question_id and a turn number",
                                 "question_id")
    item = _item(j["question_id"], turn)
    if item not in known:
        raise place.source.error(place.position, f"question {j['question_id']!r}, turn "
                                                 f"{turn}: not in question.jsonl",
                                 "question_id")
    return item


def _single_judgments(root: Path, known: set[str]) -> list[Judgment]:
    out: list[Judgment] = []
    for file in sorted((root / "model_judgment").glob("*_single.jsonl")):
        for place, j in jsonl_records(file):
            item = _turn_item(j, place, known)
            if not j.get("model"):
                raise place.source.error(place.position, "missing (the model judged)",
                                         "model")
            score = j.get("score")
            if isinstance(score, bool) or not isinstance(score, int | float):
                raise place.source.error(place.position, "expected a rating (-1: none "
                                                         "found)", "score")
            text = j.get("judgment")
            out.append(PointwiseJudgment(item, _judge(j, file, "_single.jsonl") + ":single",
                                         str(j["model"]), None if score == -1 else score,
                                         SCALE, text if isinstance(text, str) else None))
    return out


def _pair_judgments(root: Path, known: set[str], ties: str,
                    notes: list[str]) -> list[Judgment]:
    out: list[Judgment] = []
    dropped = resolved = 0
    for file in sorted((root / "model_judgment").glob("*_pair.jsonl")):
        for place, j in jsonl_records(file):
            if not j.get("model_1") or not j.get("model_2"):
                raise place.source.error(place.position, "expected model_1 and model_2",
                                         "model_1")
            item = _turn_item(j, place, known)
            m1, m2 = str(j["model_1"]), str(j["model_2"])
            reviewer = _judge(j, file, "_pair.jsonl")
            said = [str(j.get("g1_winner")), str(j.get("g2_winner"))]
            if ties == "fastchat":
                if not all(s in _SAID for s in said):  # show_result.py drops the row
                    dropped += 1
                    continue
                if said[0] == "tie" or said[0] != said[1]:
                    resolved += said[0] != said[1]
                    said = ["tie", "tie"]
            for (first, second), key, said_here in zip(((m1, m2), (m2, m1)),
                                                      ("g1_judgment", "g2_judgment"), said,
                                                      strict=True):
                text = j.get(key)
                out.append(PairwiseJudgment(item, reviewer, first, second,
                                            _winner(said_here, first, m1),
                                            text if isinstance(text, str) else None))
    if ties == "fastchat" and (dropped or resolved):
        notes.append(f"FastChat's tie rule: {dropped} pair(s) with an error game left out, "
                     f"{resolved} pair(s) whose two orders disagree made ties")
    return out


def _winner(said: str, first: str, m1: str) -> Winner | None:
    """A FastChat winner (model_1, model_2, tie; anything else unreadable) as seen from
    the order where ``first`` is shown first."""
    if said not in _SAID:
        return None
    if said == "tie":
        return "tie"
    return "first" if (said == "model_1") == (first == m1) else "second"


def _human(root: Path) -> list[Judgment]:
    out: list[Judgment] = []
    for file in sorted(p for p in root.glob("*human*") if p.suffix in (".json", ".jsonl")):
        source, rows = read_records(file, "{question_id, model_a, model_b, winner, judge, "
                                          "turn}")
        for position, v in rows:
            if not isinstance(v, dict) or "model_a" not in v or "winner" not in v:
                raise source.error(position, "expected {question_id, model_a, model_b, "
                                             "winner, judge, turn}", "winner")
            winner = str(v["winner"])
            said: Winner | None = "first" if winner == "model_a" else "second" \
                if winner == "model_b" else "tie" if winner.startswith("tie") else None
            out.append(PairwiseJudgment(_item(v.get("question_id"), int(v.get("turn") or 1)),
                                        str(v.get("judge")), str(v["model_a"]),
                                        str(v["model_b"]), said))
    return out
