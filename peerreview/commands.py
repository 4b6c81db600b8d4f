"""One library call per command of the command line.

Each loads its inputs once (a :class:`~peerreview.study.Study`), lets data flow one
way (exam -> chair -> agreement -> outputs -> report) and writes its folder all at
once. ``rank`` records in DIR/run.json what it read, and ``run`` its config, so that
``report DIR`` can draw the report again from the same inputs.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from peerreview.errors import InputError
from peerreview.exam import Weighting
from peerreview.output import write_files
from peerreview.ranking import Qualification, RankOptions, RankResult, rank
from peerreview.records import OffScale, dumps_json, read_submissions
from peerreview.report import ReportInputs, render
from peerreview.schedule import Schedule
from peerreview.study import load_study


def rank_spec(judgments: list[str], options: RankOptions, *, exam_gold: str | None = None,
              gold: str | None = None, items: str | None = None,
              submissions: str | None = None) -> dict[str, Any]:
    """What a ``rank`` reads and how, with absolute paths (recorded in run.json)."""
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


def rank_outputs(spec: dict[str, Any], *, parquet: bool = False
                 ) -> tuple[RankResult, dict[str, bytes]]:
    """Rank as the spec says; the result and every output file (report included, and
    with ``parquet`` leaderboard.parquet)."""
    options = _options(spec["options"])
    study = load_study(spec["judgments"], exam_gold=spec["exam_gold"], gold=spec["gold"],
                       items=spec["items"], submissions=spec["submissions"],
                       off_scale=options.off_scale)
    result = rank(study, options=options)
    facts = {"rank": spec}
    files = result.files()
    if parquet:
        files["leaderboard.parquet"] = result.leaderboard_parquet()
    files.update(render(ReportInputs(result, title="peerreview rank",
                                     threshold=options.threshold, facts=facts)))
    files["run.json"] = dumps_json(facts)
    return result, files


def rank_into(out: str | Path, spec: dict[str, Any], *, parquet: bool = False) -> RankResult:
    """``peerreview rank``: rank as the spec says and write every output into ``out``."""
    result, files = rank_outputs(spec, parquet=parquet)
    write_files(out, files)
    return result


def report_into(out: str | Path) -> None:
    """``peerreview report DIR``: draw report.html and summary.md again from what
    DIR/run.json records (a rank's inputs, or a run's config and its outputs)."""
    folder = Path(out)
    facts_path = folder / "run.json"
    try:
        facts = orjson.loads(facts_path.read_bytes())
    except FileNotFoundError as exc:
        raise InputError("no run.json here: not a folder written by peerreview rank, run "
                         "or demo", facts_path) from exc
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", facts_path) from exc
    if "rank" in facts:
        _, files = rank_outputs(facts["rank"])
        write_files(folder, {n: files[n] for n in ("report.html", "summary.md")},
                    whole_set=False)
        return
    if "config" not in facts:
        raise InputError("run.json records neither a rank nor a run config", facts_path)
    from peerreview.config import RunConfig
    from peerreview.reading import load_judgments
    from peerreview.runinputs import load_run_inputs, rank_options, run_study

    config = RunConfig.model_validate(facts["config"])
    inputs = load_run_inputs(config)
    loaded = load_judgments([folder / "judgments.jsonl"])
    study = run_study(inputs, [], read_submissions(folder / "submissions.jsonl"))
    study.table, study.duplicates = loaded.table, loaded.duplicates
    options = rank_options(config)
    result = rank(study, options=options)
    write_files(folder, render(ReportInputs(result, title="peerreview run",
                                            threshold=options.threshold, facts=facts)),
                whole_set=False)
