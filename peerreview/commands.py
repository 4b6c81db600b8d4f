"""One library call per command of the command line.

Each loads its inputs once (a :class:`~peerreview.records.study.Study`), lets data flow one
way (exam -> chair -> agreement -> outputs -> report) and writes its folder all at
once. ``rank`` records in DIR/run.json what it read, and ``run`` its config, with
absolute paths, so that ``report DIR`` can draw the report again from the same inputs,
from any folder. A rank in which nobody qualifies still writes reviewers.json, the
report and run.json, saying why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from peerreview.errors import InputError, NoQualifiedReviewer
from peerreview.exam.grade import ExamResult, Weighting
from peerreview.options import Control, Recusal, Shrink
from peerreview.output import Content, write_files
from peerreview.rankfiles import exam_from_rows, reviewer_rows
from peerreview.ranking import Qualification, RankOptions, RankResult, rank
from peerreview.records.exchange import OffScale, dumps_json, read_judgments, read_submissions
from peerreview.records.readable import unreadable_reviewers
from peerreview.records.study import load_study
from peerreview.records.table import JudgmentTable, build_table
from peerreview.report import ReportInputs, UnrankedInputs, render, render_unranked
from peerreview.report.document import read_document
from peerreview.review.schedule import Schedule


class NothingRanked(NoQualifiedReviewer):
    """No reviewer qualified; ``files`` say so (reviewers.json, report.html, summary.md
    and run.json), with the exam table."""

    def __init__(self, message: str, results: list[ExamResult],
                 files: dict[str, Content]) -> None:
        super().__init__(message, results)
        self.files = files


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
    options.recuse, options.shrink = Recusal(options.recuse), Shrink(options.shrink)
    options.control = tuple(Control(c) for c in options.control)
    if options.qualification is not None:
        options.qualification = Qualification(options.qualification)
    return options


def rank_outputs(spec: dict[str, Any], *, parquet: bool = False
                 ) -> tuple[RankResult, dict[str, Content]]:
    """Rank as the spec says; the result and every output file (report included, and
    with ``parquet`` leaderboard.parquet)."""
    options = _options(spec["options"])
    study = load_study(spec["judgments"], exam_gold=spec["exam_gold"], gold=spec["gold"],
                       items=spec["items"], submissions=spec["submissions"],
                       off_scale=options.off_scale)
    facts: dict[str, Any] = {"rank": spec}
    try:
        result = rank(study, options=options)
    except NoQualifiedReviewer as exc:
        raise NothingRanked(exc.message, exc.results, _unranked_files(
            exc.message, exc.results, study.table, facts, "peerreview rank",
            options.threshold if study.exam_gold is not None else None)) from exc
    files: dict[str, Content] = dict(result.files())
    if parquet:
        files["leaderboard.parquet"] = result.leaderboard_parquet()
    if result.shrinkage is not None:  # --shrink: the method and the lambda it chose
        facts["shrink"] = result.shrinkage.to_dict()
    files.update(render(ReportInputs(result, title="peerreview rank",
                                     threshold=options.threshold, facts=facts)))
    files["run.json"] = dumps_json(facts)
    return result, files


def _unranked_files(why: str, exam: list[ExamResult], table: JudgmentTable,
                    facts: dict[str, Any], title: str,
                    threshold: float | None) -> dict[str, Content]:
    """What a rank that qualified nobody writes: the exam, and why."""
    facts["unranked"] = why
    return {"reviewers.json": dumps_json(reviewer_rows(exam)),
            "run.json": dumps_json(facts),
            **render_unranked(UnrankedInputs(why, exam, unreadable_reviewers(exam, table),
                                             title=title, threshold=threshold, facts=facts))}


def rank_into(out: str | Path, spec: dict[str, Any], *, parquet: bool = False) -> RankResult:
    """``peerreview rank``: rank as the spec says and write every output into ``out``.

    Raises:
        NoQualifiedReviewer: nobody qualified; reviewers.json, the report and run.json
            are written all the same, to show the exam.
    """
    try:
        result, files = rank_outputs(spec, parquet=parquet)
    except NothingRanked as exc:
        write_files(out, exc.files)
        raise NoQualifiedReviewer(f"{exc.message}; {Path(out) / 'report.html'} shows the "
                                  "exam", exc.results) from exc
    write_files(out, files)
    return result


def compare_sentence(out: str | Path, a: str, b: str) -> str:
    """``peerreview compare DIR A B``: how far A is ahead of B, from DIR/comparisons.json
    (nothing is ranked again), as one plain sentence; a folder ranked without
    ``--bootstrap`` has none, and the sentence says the score difference without an
    interval, from DIR/leaderboard.json.

    Raises:
        InputError: neither file, a malformed one, or a model it does not rank.
    """
    from peerreview.chair.compare import Comparisons, from_leaderboard

    path = Path(out) / "comparisons.json"  # written with --bootstrap
    if not path.exists():  # ranked without: the score differences, with no interval
        path = Path(out) / "leaderboard.json"
    try:
        raw = orjson.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise InputError("no comparisons.json or leaderboard.json here: not a folder "
                         "written by rank, run or demo", path.parent) from exc
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", path) from exc
    comparisons = Comparisons.from_dict(raw, str(path)) if path.name == "comparisons.json" \
        else from_leaderboard(raw, str(path))
    models = sorted({m for c in comparisons.pairs for m in (c.a, c.b)})
    for name, arg in ((a, "A"), (b, "B")):
        if name not in models:
            shown = ", ".join(map(repr, models[:8])) + (", ..." if len(models) > 8 else "")
            raise InputError(f"no model {name!r} in this ranking (models: {shown})",
                             path, field=arg)
    if a == b:
        raise InputError(f"A and B are the same model {a!r}: name two", field="B")
    return comparisons.between(a, b).sentence()


def report_into(out: str | Path) -> None:
    """``peerreview report DIR``: draw report.html and summary.md again, ranking nothing.

    What the report draws of the ranking is read from DIR/report.json (written with the
    report by ``rank``, ``run`` and ``demo``), and the exam of one that ranked nothing
    from DIR/reviewers.json; the judgments, gold, items and submissions behind it are
    read from the files DIR/run.json names (a rank's inputs, or a run's config and its
    outputs). A folder written before report.json existed is
    ranked again as DIR/run.json says, once: report.json is then written beside the
    report, and the next ``report DIR`` reads it.
    """
    folder = Path(out)
    facts_path = folder / "run.json"
    try:
        facts = orjson.loads(facts_path.read_bytes())
    except FileNotFoundError as exc:
        raise InputError("no run.json here: not a folder written by peerreview rank, run "
                         "or demo", facts_path) from exc
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", facts_path) from exc
    if not isinstance(facts, dict):
        raise InputError("expected a JSON object", facts_path)
    drawn = folder / "report.json"
    if "rank" in facts:
        spec = facts["rank"]
        options = _options(spec["options"])
        if "unranked" in facts or drawn.exists():
            study = load_study(spec["judgments"], exam_gold=spec["exam_gold"],
                               gold=spec["gold"], items=spec["items"],
                               submissions=spec["submissions"], off_scale=options.off_scale)
        if "unranked" in facts:  # the exam that nobody passed, as reviewers.json says
            files = _unranked_files(facts["unranked"], _exam_of(folder), study.table, facts,
                                    "peerreview rank", options.threshold
                                    if study.exam_gold is not None else None)
        elif drawn.exists():
            files = render(ReportInputs(read_document(drawn, study), title="peerreview rank",
                                        threshold=options.threshold, facts=facts))
        else:
            _, files = rank_outputs(spec)
        _write_report(folder, files)
        return
    if "config" not in facts:
        raise InputError("run.json records neither a rank nor a run config", facts_path)
    from peerreview.live.config import RunConfig
    from peerreview.live.inputs import load_run_inputs, rank_options, run_study

    config = RunConfig.model_validate(facts["config"])
    options = rank_options(config)
    table = build_table([])
    try:
        inputs = load_run_inputs(config)
        study = run_study(inputs, read_judgments(folder / "judgments.jsonl").judgments,
                          read_submissions(folder / "submissions.jsonl"),
                          facts.get("failures", {}))
        table = study.table
    except InputError:  # a run that ended early may lack what a ranked one has
        if "unranked" not in facts:
            raise
    if "unranked" in facts:  # why it ranked nothing, and its exam as reviewers.json says
        by_gold = config.exam is not None and config.exam.by_gold
        files = _unranked_files(facts["unranked"], _exam_of(folder), table, facts,
                                "peerreview run", options.threshold if by_gold else None)
    else:
        result = read_document(drawn, study) if drawn.exists() else rank(study,
                                                                         options=options)
        files = render(ReportInputs(result, title="peerreview run",
                                    threshold=options.threshold, facts=facts))
    _write_report(folder, files)


def _exam_of(folder: Path) -> list[ExamResult]:
    """The exam's results that DIR/reviewers.json holds."""
    path = folder / "reviewers.json"
    try:
        return exam_from_rows(orjson.loads(path.read_bytes()), path)
    except FileNotFoundError as exc:
        raise InputError("no reviewers.json here, which a run that ranked nothing writes",
                         path) from exc
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}", path) from exc


def _write_report(folder: Path, files: Mapping[str, Content]) -> None:
    """The report's files of ``files`` (report.json only where the ranking was drawn)."""
    write_files(folder, {n: files[n] for n in ("report.html", "summary.md", "report.json")
                         if n in files}, whole_set=False)
