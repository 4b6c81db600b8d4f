"""arena-hard-auto's layout: ``question.jsonl``, ``model_answer/*.jsonl`` and
``model_judgment/<judge>/*.jsonl``, in v0.1's shapes (``question_id``, ``choices``,
``games`` with ``score``) or v2's (``uid``, ``messages``, ``baseline``).

Every model is judged against one baseline (``baseline`` in a judgment, or v0.1's
``gpt-4-0314``), in two games: the first shows the baseline as A, the second the
model. A game's score (``A>>B`` ... ``B>>A``) is read as a verdict, a strong one
(``>>``) kept as ``strength: 2``; a missing score is an abstention. No human gold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peerreview.answers import parse_verdict
from peerreview.errors import InputError
from peerreview.importers import ImportedSet, require_dir
from peerreview.records import Item, Judgment, PairwiseJudgment, Submission, iter_jsonl

V01_BASELINE = "gpt-4-0314"


def _id(record: dict[str, Any], path: Path, line: int) -> str:
    value = record.get("uid", record.get("question_id"))
    if value is None:
        raise InputError("expected uid (v2) or question_id (v0.1)", path, line, "uid")
    return str(value)


def _prompt(q: dict[str, Any], path: Path, line: int) -> str:
    if isinstance(q.get("prompt"), str):
        return str(q["prompt"])
    turns = q.get("turns")
    if isinstance(turns, list) and turns and all(isinstance(t, dict) for t in turns):
        return "\n\n".join(str(t.get("content", "")) for t in turns)
    raise InputError("expected prompt (v2) or turns (v0.1)", path, line, "prompt")


def _answer(a: dict[str, Any], path: Path, line: int) -> str:
    messages = a.get("messages")
    if isinstance(messages, list):  # v2: the assistant's last message
        said = [m.get("content") for m in messages
                if isinstance(m, dict) and m.get("role") == "assistant"]
        if said:
            content = said[-1]
            return str(content.get("answer", "")) if isinstance(content, dict) else str(content)
    choices = a.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        turns = choices[0].get("turns") or []
        return "\n\n".join(str(t.get("content", "")) if isinstance(t, dict) else str(t)
                           for t in turns)
    raise InputError("expected messages (v2) or choices (v0.1)", path, line, "messages")


def import_arena_hard(path: str | Path) -> ImportedSet:
    """Import an arena-hard-auto data folder (e.g. ``data/arena-hard-v0.1``)."""
    root = Path(path)
    require_dir(root, "arena-hard folder (question.jsonl, model_answer/, model_judgment/)")
    qfile = root / "question.jsonl"
    items = [Item(_id(q, qfile, line), _prompt(q, qfile, line), None,
                  {k: q[k] for k in ("category", "subcategory", "cluster") if k in q})
             for line, q in iter_jsonl(qfile)]
    known = {i.item for i in items}
    submissions = []
    folder = root / "model_answer"
    require_dir(folder, "model_answer/ folder of one JSON Lines file per model")
    for file in sorted(folder.glob("*.jsonl")):
        for line, a in iter_jsonl(file):
            qid = _id(a, file, line)
            if qid not in known:
                raise InputError(f"question {qid!r} is not in question.jsonl", file, line, "uid")
            submissions.append(Submission(qid, str(a.get("model") or a.get("model_id")
                                                   or file.stem), _answer(a, file, line)))
    judgments: list[Judgment] = []
    for file in sorted((root / "model_judgment").glob("*/*.jsonl")):
        for line, j in iter_jsonl(file):
            qid, model = _id(j, file, line), str(j.get("model") or file.stem)
            baseline = str(j.get("baseline") or V01_BASELINE)
            reviewer = str(j.get("judge") or file.parent.name)
            games = j.get("games")
            if not isinstance(games, list):
                raise InputError("expected a list of games", file, line, "games")
            for game, (first, second) in zip(games, ((baseline, model), (model, baseline)),
                                             strict=False):
                score = game.get("score") if isinstance(game, dict) else None
                winner, strength = parse_verdict(f"[[{score}]]") if isinstance(score, str) \
                    else (None, None)
                text = game.get("judgment") if isinstance(game, dict) else None
                raw = text.get("answer") if isinstance(text, dict) else text
                judgments.append(PairwiseJudgment(
                    qid, reviewer, first, second, winner,  # type: ignore[arg-type]
                    raw if isinstance(raw, str) else None, None,
                    strength if strength and strength > 1 else None))
    return ImportedSet(items, submissions, judgments, [], [])
