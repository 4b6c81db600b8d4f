"""arena-hard-auto's layout: ``question.jsonl``, ``model_answer/*.jsonl`` and
``model_judgment/<judge>/*.jsonl``, in v0.1's shapes (``question_id``, ``choices``,
``games`` with ``user_prompt``) or v2's (``uid``, ``messages``, ``baseline``).

Every model is judged against one baseline, in two games: the first shows the
baseline as A, the second the model. A game's score is read as arena-hard's
``show_result.py`` reads it: ``A>B`` / ``B<A`` the first wins, ``A=B`` / ``B=A`` a
tie, ``>>`` (``<<``) a strong verdict kept as ``strength: 2``; a missing or other
score is an abstention. No human gold.

The baseline is ``--baseline`` if given, else the one the judgments show: v2
names it in each judgment; in v0.1 it is the model whose answer game 1 shows as
assistant A, else the one model with answers and no judgments. Judgments of the
baseline against itself (a model list that includes the baseline) are left out.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peerreview.errors import InputError
from peerreview.importers.imported import ImportedSet, require_dir
from peerreview.importers.shape import SubmissionPool, shape_warnings
from peerreview.importers.sources import Place, jsonl_records
from peerreview.records.exchange import Item, Judgment, PairwiseJudgment, Winner

# show_result.py's label_to_score, read as (winner of the game, strength).
SCORES: dict[str, tuple[Winner, int | None]] = {
    "A>B": ("first", None), "A>>B": ("first", 2), "A=B": ("tie", None),
    "A<B": ("second", None), "A<<B": ("second", 2), "B>A": ("second", None),
    "B>>A": ("second", 2), "B=A": ("tie", None), "B<A": ("first", None),
    "B<<A": ("first", 2)}
_ANSWER_A = re.compile(r"<\|The Start of Assistant A's Answer\|>\n(.*?)\n"
                       r"<\|The End of Assistant A's Answer\|>", re.DOTALL)


def _id(record: dict[str, Any], place: Place) -> str:
    value = record.get("uid", record.get("question_id"))
    if value is None:
        raise place.source.error(place.position, "expected uid (v2) or question_id (v0.1)",
                                 "uid")
    return str(value)


def _prompt(q: dict[str, Any], place: Place) -> str:
    if isinstance(q.get("prompt"), str):
        return str(q["prompt"])
    turns = q.get("turns")
    if isinstance(turns, list) and turns and all(isinstance(t, dict) for t in turns):
        return "\n\n".join(str(t.get("content", "")) for t in turns)
    raise place.source.error(place.position, "expected prompt (v2) or turns (v0.1)", "prompt")


def _answer(a: dict[str, Any], place: Place) -> str:
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
    raise place.source.error(place.position, "expected messages (v2) or choices (v0.1)",
                             "messages")


def _files(folder: Path, pattern: str, what: str) -> list[Path]:
    files = sorted(folder.glob(pattern))
    if not files:
        raise InputError(f"no {pattern} files; expected {what}", folder)
    return files


def import_arena_hard(path: str | Path, *, baseline: str | None = None,
                      keep_first: bool = False) -> ImportedSet:
    """Import an arena-hard-auto data folder (e.g. ``data/arena-hard-v0.1``).

    Args:
        path: the folder.
        baseline: the model every other one was judged against (default: the one the
            judgments show; an error when they show several or none).
        keep_first: a model answering a question twice with different answers keeps
            the first (else an error naming both records).

    Raises:
        InputError: a missing file, a malformed record, or a baseline that cannot be
            told.
    """
    root = Path(path)
    require_dir(root, "arena-hard folder (question.jsonl, model_answer/, model_judgment/)")
    items: list[Item] = []
    for place, q in jsonl_records(root / "question.jsonl"):
        items.append(Item(_id(q, place), _prompt(q, place), None,
                          {k: q[k] for k in ("category", "subcategory", "cluster") if k in q}))
    known = {i.item for i in items}
    pool = SubmissionPool(keep_first)
    folder = root / "model_answer"
    require_dir(folder, "model_answer/ folder of one JSON Lines file per model")
    for file in _files(folder, "*.jsonl", "one JSON Lines file of answers per model"):
        for place, a in jsonl_records(file):
            qid = _id(a, place)
            if qid not in known:
                raise place.source.error(place.position,
                                         f"question {qid!r} is not in question.jsonl", "uid")
            pool.add(qid, str(a.get("model") or a.get("model_id") or file.stem),
                     _answer(a, place), place)
    rows, shown = _judgment_rows(root, known)
    notes = pool.notes()
    chosen = _baseline(rows, shown, pool, baseline, notes)
    judgments = _games(rows, chosen, notes)
    warnings = shape_warnings(items, pool.submissions, judgments)
    as_a = _shown_as_a(shown, pool)
    if baseline is not None and as_a and baseline not in as_a:
        warnings.append(f"--baseline {baseline!r}, but game 1 of the judgments shows "
                        f"{' / '.join(sorted(as_a))} as assistant A")
    return ImportedSet(items, pool.submissions, judgments, [], notes, warnings)


@dataclass(frozen=True, slots=True)
class _Row:
    """One judgment record, reduced to what the import keeps (not the prompts)."""

    item: str
    model: str
    judge: str
    baseline: str | None  # as v2 names it
    games: list[tuple[Any, str | None]]  # (score, the judge's text) per game


def _judgment_rows(root: Path, known: set[str]) -> tuple[list[_Row], dict[str, str]]:
    """Every judgment record (checked), and for each judgment file whose game 1 keeps
    its prompt (v0.1), the question and the answer that prompt shows as assistant A."""
    rows: list[_Row] = []
    shown: dict[str, str] = {}
    for file in sorted((root / "model_judgment").glob("*/*.jsonl")):
        for place, j in jsonl_records(file):
            qid = _id(j, place)
            if qid not in known:
                raise place.source.error(place.position,
                                         f"question {qid!r} is not in question.jsonl", "uid")
            games = j.get("games")
            if not isinstance(games, list):
                raise place.source.error(place.position, "expected a list of games", "games")
            named = j.get("baseline")
            if named is not None and not isinstance(named, str):
                raise place.source.error(place.position, "expected the baseline's name",
                                         "baseline")
            if str(file) not in shown and games and isinstance(games[0], dict):
                prompt = games[0].get("user_prompt")
                match = _ANSWER_A.search(prompt) if isinstance(prompt, str) else None
                if match:
                    shown[str(file)] = f"{qid}\n{match.group(1).strip()}"
            rows.append(_Row(qid, str(j.get("model") or file.stem),
                             str(j.get("judge") or file.parent.name), named or None,
                             [_game(g) for g in games]))
    return rows, shown


def _game(game: Any) -> tuple[Any, str | None]:
    if not isinstance(game, dict):
        return None, None
    text = game.get("judgment")
    raw = text.get("answer") if isinstance(text, dict) else text
    return game.get("score"), raw if isinstance(raw, str) else None


def _baseline(rows: list[_Row], shown: dict[str, str], pool: SubmissionPool,
              given: str | None, notes: list[str]) -> str | None:
    """The baseline: given, named by v2 judgments, shown in v0.1's game 1, or the one
    model with answers and no judgments."""
    answered = {s.model for s in pool.submissions}
    named = Counter(r.baseline for r in rows if r.baseline)
    if given is not None:
        if given not in answered and given not in named:
            raise InputError(f"no model {given!r} here; the models with answers: "
                             f"{', '.join(sorted(answered))}", field="--baseline")
        return given
    if not rows:
        return None
    if named and all(r.baseline for r in rows):
        if len(named) > 1:
            counts = ", ".join(f"{b} ({n} judgments)" for b, n in named.most_common())
            raise InputError(f"the judgments name {len(named)} baselines: {counts}; choose "
                             "one with --baseline (the judgments against the others are "
                             "left out)", field="--baseline")
        return next(iter(named))
    as_a = _shown_as_a(shown, pool)
    if len(as_a) == 1:
        notes.append(f"baseline {next(iter(as_a))!r}: its answers are assistant A in game "
                     "1 of the judgments")
        return next(iter(as_a))
    unjudged = answered - {r.model for r in rows}
    if not as_a and len(unjudged) == 1:
        notes.append(f"baseline {next(iter(unjudged))!r}: the one model with answers and "
                     "no judgments")
        return next(iter(unjudged))
    candidates = sorted(as_a or unjudged or answered)
    raise InputError("cannot tell the baseline from the judgments (candidates: "
                     f"{', '.join(candidates) or 'none'}); name it with --baseline",
                     field="--baseline")


def _shown_as_a(shown: dict[str, str], pool: SubmissionPool) -> set[str]:
    """The models whose answer every judgment file's game 1 shows as assistant A."""
    by_answer: dict[str, set[str]] = {}
    for s in pool.submissions:
        by_answer.setdefault(f"{s.item}\n{s.output.strip()}", set()).add(s.model)
    found: set[str] | None = None
    for key in shown.values():
        models = by_answer.get(key, set())
        found = set(models) if found is None else found & models
    return found or set()


def _games(rows: list[_Row], baseline: str | None, notes: list[str]) -> list[Judgment]:
    judgments: list[Judgment] = []
    self_games = other = 0
    for row in rows:
        if (row.baseline or baseline) != baseline or baseline is None:
            other += 1
            continue
        if row.model == baseline:
            self_games += 1
            continue
        for (score, raw), (first, second) in zip(
                row.games, ((baseline, row.model), (row.model, baseline)), strict=False):
            winner, strength = SCORES.get(score, (None, None)) if isinstance(score, str) \
                else (None, None)
            judgments.append(PairwiseJudgment(row.item, row.judge, first, second, winner,
                                              raw, None, strength))
    if self_games:
        notes.append(f"{self_games} judgment(s) of the baseline {baseline!r} against itself "
                     "left out")
    if other:
        notes.append(f"{other} judgment(s) against another baseline than {baseline!r} left "
                     "out")
    return judgments
