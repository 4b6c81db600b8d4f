"""PandaLM's human-annotated test set (WeOpenML/PandaLM, testset-v1).

Items are the 999 instructions (``idx`` as a string), each comparing one pair of
models named in ``cmp_key`` ("modelA_modelB"; response1 is modelA's). Each pair is
judged in one order only. Reviewers: ``gpt-3.5-turbo`` and ``pandalm-7b``; an
answer that is not 1, 2 or a tie ("garbage") is an abstention. Gold: the three
annotators (0 = tie, 1 = response1 better, 2 = response2 better).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from peerreview.importers.imported import ImportedSet
from peerreview.importers.shape import shape_warnings
from peerreview.importers.sources import read_records
from peerreview.records.exchange import Item, Judgment, PairwiseJudgment, Submission, Winner

_CODES: dict[str, Winner] = {"0": "tie", "1": "first", "2": "second", "tie": "tie"}
REVIEWERS = {"gpt-3.5-turbo": ("gpt-3.5-turbo-testset-v1.json", "gpt_result", "gpt_reason"),
             "pandalm-7b": ("pandalm-7b-testset-v1.json", "pandalm_result", "pandalm_reason")}


def _winner(value: Any) -> Winner | None:
    return _CODES.get(str(value).strip().lower())


def import_pandalm(path: str | Path) -> ImportedSet:
    """Import PandaLM from its folder (``testset-v1.json`` and the reviewer files)."""
    root = Path(path)
    test = root / "testset-v1.json"
    source, rows = read_records(test, "PandaLM {idx, cmp_key, instruction, ...}")
    items: list[Item] = []
    submissions: list[Submission] = []
    gold: list[Judgment] = []
    pairs: dict[str, tuple[str, str]] = {}
    for n, row in rows:
        try:
            item = str(row["idx"])
            first, second = row["cmp_key"].split("_")
            text = row["instruction"] + (f"\n\n{row['input']}" if row.get("input") else "")
            items.append(Item(item, text, None, {"app": row.get("motivation_app")}))
            # A few responses were parsed as JSON values (e.g. `true`): keep them as text.
            submissions += [Submission(item, first, _text(row["response1"])),
                            Submission(item, second, _text(row["response2"]))]
            for k in (1, 2, 3):
                gold.append(PairwiseJudgment(item, f"annotator{k}", first, second,
                                             _winner(row[f"annotator{k}"])))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise source.error(n, f"unexpected record ({exc!r})") from None
        pairs[item] = (first, second)

    judgments: list[Judgment] = []
    notes: list[str] = []
    for reviewer, (name, result_key, reason_key) in REVIEWERS.items():
        answers, rows = read_records(root / name, f"{reviewer} {{idx, {result_key}}}")
        for n, row in rows:
            if not isinstance(row, dict):
                raise answers.error(n, f"expected a JSON object, got {type(row).__name__}")
            item = str(row.get("idx"))
            if item not in pairs:
                raise answers.error(n, f"idx {item!r} is not in testset-v1.json", "idx")
            first, second = pairs[item]
            raw = f"{row.get(result_key)}: {row.get(reason_key) or ''}".strip()
            judgments.append(PairwiseJudgment(item, reviewer, first, second,
                                              _winner(row.get(result_key)), raw))
    # Each item pairs its own two models: a model missing from an item is the design.
    return ImportedSet(items, submissions, judgments, gold, notes,
                       shape_warnings(items, submissions, judgments, complete=False))


def _text(value: object) -> str:
    """A response as the text the model wrote (JSON scalars in the source as JSON)."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()
