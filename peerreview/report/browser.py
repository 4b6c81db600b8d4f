"""The item browser's data: compact enough for 20 models x 1,000 items x 10 reviewers.

Per item and unordered pair (a, b): the chair's margin, the gold label, and for each
reviewer two characters, its verdict with a shown first and with b shown first:
``A`` a won, ``B`` b won, ``=`` tie, ``?`` abstention, ``.`` not asked. Raw
answers are kept (cut to a length) while the run has at most ``RAW_BUDGET``
judgments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from peerreview.records.exchange import Item, Submission
from peerreview.records.table import JudgmentTable, pair_key

if TYPE_CHECKING:  # the report draws a ranking; it never makes one
    from peerreview.ranking import RankResult

RAW_CHARS = 300
RAW_BUDGET = 200_000
TEXT_CHARS = 4000


def browser_data(result: RankResult, table: JudgmentTable, items: dict[str, Item],
                 submissions: list[Submission],
                 gold: dict[tuple[str, str, str], int]) -> dict[str, Any]:
    """The JSON the page's item browser renders (with ``textContent``, never as HTML)."""
    models, reviewers = table.models, table.reviewers
    pairs = _pairs(result, table, gold)
    scores: dict[str, list[list[Any]]] = {}
    s = table.scores
    for i, r, m, score in zip(s.item.tolist(), s.reviewer.tolist(), s.model.tolist(),
                              s.score.tolist(), strict=True):
        scores.setdefault(table.items[i], []).append(
            [models[m], reviewers[r], None if score != score else score])
    texts: dict[str, dict[str, str]] = {}
    for sub in submissions:
        texts.setdefault(sub.item, {})[sub.model] = sub.output[:TEXT_CHARS]
    with_raw = len(table.pairwise) + len(table.scores) <= RAW_BUDGET
    raw: dict[str, list[list[Any]]] = {}
    if with_raw:
        p = table.pairwise
        for i, r, a, b, a_first, text in zip(p.item.tolist(), p.reviewer.tolist(),
                                              p.a.tolist(), p.b.tolist(), p.a_first.tolist(),
                                              p.raw.tolist(), strict=True):
            if text:
                first, second = (a, b) if a_first == 1 else (b, a)
                raw.setdefault(table.items[i], []).append(
                    [reviewers[r], models[first], models[second], text[:RAW_CHARS]])
        for i, r, m, text in zip(s.item.tolist(), s.reviewer.tolist(), s.model.tolist(),
                                 s.raw.tolist(), strict=True):
            if text:
                raw.setdefault(table.items[i], []).append(
                    [reviewers[r], models[m], None, text[:RAW_CHARS]])
    rows = []
    for item_id in sorted(set(pairs) | set(texts) | set(scores)):
        known = items.get(item_id)
        rows.append({
            "item": item_id, "input": known.input[:TEXT_CHARS] if known else "",
            "reference": known.reference if known else None,
            "submissions": texts.get(item_id, {}),
            "pairs": pairs.get(item_id, []),
            "scores": scores.get(item_id, []), "raw": raw.get(item_id, [])})
    return {"models": models, "reviewers": reviewers, "raw": with_raw, "items": rows}


def _pairs(result: RankResult, table: JudgmentTable,
           gold: dict[tuple[str, str, str], int]) -> dict[str, list[list[Any]]]:
    """Per item, its pairs ``[a, b, margin, gold, verdicts]`` in model order, built on
    columns: every judged, decided or gold pair, each reviewer's two characters."""
    n_models, n_rev = len(table.models), len(table.reviewers)
    model_ix = {m: i for i, m in enumerate(table.models)}
    item_ix = {t: i for i, t in enumerate(table.items)}
    p = table.pairwise
    vote_keys = pair_key(p.item, p.a, p.b, n_models)
    ev, v = result.evidence.table, result.evidence.verdicts
    ev_models = np.array([model_ix[m] for m in ev.models], np.int64)
    ev_items = np.array([item_ix[t] for t in ev.items], np.int64)
    verdict_keys = pair_key(ev_items[v.item], ev_models[v.a], ev_models[v.b], n_models) \
        if len(v) else np.zeros(0, np.int64)
    known = [(k, sign) for k, sign in gold.items()
             if k[0] in item_ix and k[1] in model_ix and k[2] in model_ix]
    gold_item = np.array([item_ix[t] for (t, _, _), _ in known], np.int64)
    gold_a = np.array([model_ix[a] for (_, a, _), _ in known], np.int64)
    gold_b = np.array([model_ix[b] for (_, _, b), _ in known], np.int64)
    gold_keys = pair_key(gold_item, gold_a, gold_b, n_models)
    keys = np.unique(np.concatenate([vote_keys, verdict_keys, gold_keys]))
    codes = np.full((keys.size, max(2 * n_rev, 1)), ord("."), np.uint8)
    if len(p):
        row = np.searchsorted(keys, vote_keys)
        symbol = np.where(p.abstain, ord("?"), np.where(p.vote > 0, ord("A"), np.where(
            p.vote < 0, ord("B"), ord("="))))
        codes[row, 2 * p.reviewer + (p.a_first != 1)] = symbol
    text = codes[:, :2 * n_rev].copy().view(f"S{max(2 * n_rev, 1)}").ravel() if n_rev \
        else np.full(keys.size, b"", dtype="S1")
    margin = np.full(keys.size, np.nan)
    margin[np.searchsorted(keys, verdict_keys)] = np.round(v.margin, 4)
    signs = np.zeros(keys.size, np.int64)
    signs[np.searchsorted(keys, gold_keys)] = [sign for _, sign in known]
    item, rest = np.divmod(keys, n_models * n_models)
    a, b = np.divmod(rest, n_models)
    out: dict[str, list[list[Any]]] = {}
    for t, x, y, m, g, verdicts in zip(item.tolist(), a.tolist(), b.tolist(), margin.tolist(),
                                       signs.tolist(), text.tolist(), strict=True):
        out.setdefault(table.items[t], []).append(
            [x, y, None if m != m else m, g or None, verdicts.decode()])
    return out
