"""The item browser's data: compact enough for 20 models x 1,000 items x 10 reviewers.

Per item and unordered pair (a, b): the chair's margin, the gold label, and for each
reviewer two characters, its verdict with a shown first and with b shown first:
``A`` a won, ``B`` b won, ``=`` tie, ``?`` abstention, ``.`` not asked. Raw
answers are kept (cut to a length) while the run has at most ``RAW_BUDGET``
judgments.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from peerreview.rank import RankResult
from peerreview.records import Item, Judgment, PairwiseJudgment, Submission
from peerreview.votes import JudgmentTable

RAW_CHARS = 300
RAW_BUDGET = 200_000
TEXT_CHARS = 4000


def browser_data(result: RankResult, table: JudgmentTable, items: dict[str, Item],
                 submissions: list[Submission], judgments: list[Judgment],
                 gold: dict[tuple[str, str, str], int]) -> dict[str, Any]:
    """The JSON the page's item browser renders (with ``textContent``, never as HTML)."""
    models, reviewers = table.models, table.reviewers
    model_index = {m: i for i, m in enumerate(models)}
    n_rev = len(reviewers)
    pairs: dict[str, dict[tuple[int, int], list[Any]]] = {}

    def pair(item: str, a: int, b: int) -> list[Any]:
        per_item = pairs.setdefault(item, {})
        if (a, b) not in per_item:
            per_item[a, b] = [a, b, None, None, [".", "."] * n_rev]
        return per_item[a, b]

    votes = table.pairwise
    symbol = {1: "A", -1: "B", 0: "="}
    for i, r, a, b, vote, abstain, a_first in zip(
            votes.item.tolist(), votes.reviewer.tolist(), votes.a.tolist(), votes.b.tolist(),
            votes.vote.tolist(), votes.abstain.tolist(), votes.a_first.tolist(), strict=True):
        row = pair(table.items[i], a, b)
        row[4][2 * r + (0 if a_first == 1 else 1)] = "?" if abstain else symbol[vote]
    ev, v = result.evidence.table, result.evidence.verdicts
    for i, a, b, m in zip(v.item.tolist(), v.a.tolist(), v.b.tolist(),
                          np.round(v.margin, 4).tolist(), strict=True):
        pair(ev.items[i], model_index[ev.models[a]], model_index[ev.models[b]])[2] = m
    for (item, a, b), sign in gold.items():
        if a in model_index and b in model_index:
            pair(item, model_index[a], model_index[b])[3] = sign
    scores: dict[str, list[list[Any]]] = {}
    s = table.scores
    for i, r, m, score in zip(s.item.tolist(), s.reviewer.tolist(), s.model.tolist(),
                              s.score.tolist(), strict=True):
        scores.setdefault(table.items[i], []).append(
            [models[m], reviewers[r], None if score != score else score])
    texts: dict[str, dict[str, str]] = {}
    for sub in submissions:
        texts.setdefault(sub.item, {})[sub.model] = sub.output[:TEXT_CHARS]
    with_raw = len(judgments) <= RAW_BUDGET
    raw: dict[str, list[list[Any]]] = {}
    if with_raw:
        for j in judgments:
            if j.raw:
                second = j.second if isinstance(j, PairwiseJudgment) else None
                first = j.first if isinstance(j, PairwiseJudgment) else j.model
                raw.setdefault(j.item, []).append([j.reviewer, first, second, j.raw[:RAW_CHARS]])
    rows = []
    for item_id in sorted(set(pairs) | set(texts) | set(scores)):
        known = items.get(item_id)
        rows.append({
            "item": item_id, "input": known.input[:TEXT_CHARS] if known else "",
            "reference": known.reference if known else None,
            "submissions": texts.get(item_id, {}),
            "pairs": [[*p[:4], "".join(p[4])] for _, p in sorted(pairs.get(item_id, {}).items())],
            "scores": scores.get(item_id, []), "raw": raw.get(item_id, [])})
    return {"models": models, "reviewers": reviewers, "raw": with_raw, "items": rows}
