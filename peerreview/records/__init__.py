"""The records that flow through PRE's pipeline, defined once: items, submissions,
judgments (:mod:`.exchange`, with the exact JSON Lines reader and writer), the field
table of a judgment's optional numbers (:mod:`.fields`), the fast columnar reader
(:mod:`.reading`), the judgment table every later stage reads (:mod:`.table`), human
gold (:mod:`.gold`), answers that could not be read (:mod:`.readable`) and the
:class:`~peerreview.records.study.Study`, a ranking's inputs loaded once
(:mod:`.study`).

Nothing here imports aiohttp, pydantic, sqlite3 or the live ring.
"""

from __future__ import annotations

from peerreview.records.exchange import (
    Item,
    Judgment,
    OffScale,
    PairwiseJudgment,
    PointwiseJudgment,
    Submission,
    judgment_to_dict,
    read_items,
    read_judgments,
    read_submissions,
)

__all__ = ["Item", "Judgment", "OffScale", "PairwiseJudgment", "PointwiseJudgment",
           "Submission", "judgment_to_dict", "read_items", "read_judgments",
           "read_submissions"]
