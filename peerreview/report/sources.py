"""Where a report's inputs come from: a ``rank`` over files, or a finished output folder.

Both ``rank`` and ``run`` record in DIR/run.json what they read, so that
``peerreview report DIR`` can draw the report again from the same inputs.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from peerreview.errors import InputError
from peerreview.exam import Weighting
from peerreview.gold import gold_from_judgments
from peerreview.rank import Qualification, RankOptions, rank
from peerreview.records import OffScale, read_items, read_judgments, read_submissions
from peerreview.report import ReportInputs
from peerreview.schedule import Schedule


def rank_spec(judgments: list[str], options: RankOptions, *, exam_gold: str | None = None,
              gold: str | None = None, items: str | None = None,
              submissions: str | None = None) -> dict[str, Any]:
    """What a ``rank`` read and how, with absolute paths (recorded in run.json)."""
    def absolute(p: str | None) -> str | None:
        return None if p is None else str(Path(p).resolve())
    return {"judgments": [absolute(p) for p in judgments], "exam_gold": absolute(exam_gold),
            "gold": absolute(gold), "items": absolute(items),
            "submissions": absolute(submissions), "options": asdict(options)}


def _options(raw: dict[str, Any]) -> RankOptions:
    options = RankOptions(**raw)
    options.weighting = Weighting(options.weighting)
    options.schedule = Schedule(options.schedule)
    options.off_scale = OffScale(options.off_scale)
    if options.qualification is not None:
        options.qualification = Qualification(options.qualification)
    return options


def inputs_from_rank_spec(spec: dict[str, Any], title: str = "peerreview rank") -> ReportInputs:
    """Run ``rank`` as the spec says and gather what its report shows."""
    options = _options(spec["options"])
    read = read_judgments(spec["judgments"], options.off_scale)
    result = rank(read, exam_gold=spec["exam_gold"], gold=spec["gold"], options=options)
    gold_path = spec["gold"] or spec["exam_gold"]
    return ReportInputs(
        result, title=title, threshold=spec["options"]["threshold"],
        items={i.item: i for i in read_items(spec["items"])} if spec["items"] else {},
        submissions=read_submissions(spec["submissions"]) if spec["submissions"] else [],
        judgments=read.judgments,
        gold=gold_from_judgments(gold_path).pairs if gold_path else {},
        facts={"rank": spec})


def inputs_from_dir(out_dir: str | Path) -> ReportInputs:
    """The report inputs of a folder written by ``rank``, ``run`` or ``demo``."""
    from peerreview.config import RunConfig
    from peerreview.pipeline import rank_options, report_inputs

    folder = Path(out_dir)
    facts_path = folder / "run.json"
    try:
        facts = orjson.loads(facts_path.read_bytes())
    except FileNotFoundError as exc:
        raise InputError("no run.json here: not a folder written by peerreview rank, run "
                         "or demo", facts_path) from exc
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", facts_path) from exc
    if "rank" in facts:
        return inputs_from_rank_spec(facts["rank"])
    if "config" not in facts:
        raise InputError("run.json records neither a rank nor a run config", facts_path)
    config = RunConfig.model_validate(facts["config"])
    read = read_judgments(folder / "judgments.jsonl")
    result = rank(read, exam_gold=config.exam.gold if config.exam and config.exam.by_gold
                  else None, gold=config.gold,
                  options=rank_options(config))
    return report_inputs(config, result, read_submissions(folder / "submissions.jsonl"),
                         read.judgments, facts)
