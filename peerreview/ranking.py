"""``rank``: the qualification exam and the chair, on recorded judgments.

One call does what ``peerreview rank`` does: read the judgments, run the exam
against exam gold, gather the qualified reviewers' weighted judgments, let the
chair decide every item pair and rank the models (with a bootstrap interval), and
measure agreement with gold, for the panel and for every single reviewer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from peerreview.agreement import measure_agreement
from peerreview.chair import (
    gather_evidence,
    leaderboard,
    make_chair,
    reviewer_evidence,
)
from peerreview.chair.base import Chair
from peerreview.chair.bootstrap import ranks
from peerreview.chair.compare import RecordingChair, compare_models
from peerreview.chair.excess_bias import calibrated
from peerreview.chair.guarantee import calibrate
from peerreview.chair.ppi import ranking_ppi
from peerreview.chair.shrink import shrink_ranking
from peerreview.chair.style import controlled
from peerreview.errors import InputError
from peerreview.exam.grade import ExamResult, candidates, run_exam, select_and_weight
from peerreview.exam.latent import (
    consistency_accuracy,
    dawid_skene,
    latent_reliability,
    noisy_bradley_terry,
    self_confidence,
)
from peerreview.options import Qualification as Qualification
from peerreview.options import Shrink
from peerreview.output import write_files
from peerreview.ranked import RankOptions as RankOptions
from peerreview.ranked import RankResult as RankResult
from peerreview.ranked import ReviewerAgreement as ReviewerAgreement
from peerreview.ranked import check_options
from peerreview.records.counting import Counting, counting_notes
from peerreview.records.exchange import (
    Judgment,
    JudgmentSet,
    OffScale,
    PairwiseJudgment,
    PointwiseJudgment,
    off_scale_note,
    parse_judgment,
)
from peerreview.records.gold import Gold, gold_from_judgments
from peerreview.records.recuse import recused_table
from peerreview.records.study import Study, load_study, study_of
from peerreview.records.table import FloatArray, JudgmentTable, votes_toward_first
from peerreview.review.escalate import Escalation, escalation_for, exam_rows
from peerreview.review.schedule import Schedule, cascade_order, select, separated


def rank(
    judgments: Study | list[str | Path] | list[str] | list[Path] | list[Judgment]
    | JudgmentSet,
    *,
    exam_gold: str | Path | Gold | None = None,
    gold: str | Path | Gold | None = None,
    options: RankOptions | None = None,
) -> RankResult:
    """Run the exam and the chair on recorded judgments.

    Args:
        judgments: a :class:`~peerreview.records.study.Study`, judgment files, or judgments in
            hand (records, or dicts in the exchange format).
        exam_gold: human labels for the qualification exam (a study carries its own).
        gold: human labels to measure agreement against (likewise).
        options: exam and chair settings.

    Raises:
        InputError: bad input, or no reviewer qualifies.
    """
    opts = options or RankOptions()
    check_options(opts)
    study = as_study(judgments, exam_gold=exam_gold, gold=gold, off_scale=opts.off_scale)
    table = study.table
    for labels in (study.exam_gold, study.gold):
        if labels is not None:
            labels.check_models(table.models)
    qualification = opts.qualification or (
        Qualification.GOLD if study.exam_gold is not None else Qualification.NONE)
    if qualification is Qualification.GOLD and study.exam_gold is None:
        raise InputError("--qualification gold needs --exam-gold FILE")
    exam_labels = study.exam_gold if qualification is Qualification.GOLD else None
    gold_labels = study.gold

    notes = off_scale_note(study.off_scale, opts.off_scale) + _position_notes(table) + \
        counting_notes(table.pairwise, opts.counting)
    table = exam_table = recused_table(table, opts.recuse, opts.families, exam_labels, notes)
    warned: set[str] = set()  # the same file may be exam gold and gold
    for labels in (exam_labels, gold_labels):
        if labels is not None and labels.duplicates and labels.path not in warned:
            warned.add(labels.path)
            d = labels.duplicates[0]
            notes.append(f"gold: {len(labels.duplicates)} repeated label(s) of the same "
                         f"annotator ignored, the first of each kept (e.g. {d.path}:{d.line} "
                         f"repeats {d.kept_path}:{d.kept_line})")
    if qualification in (Qualification.LATENT, Qualification.CONSISTENCY):
        exam = _label_free_exam(table, qualification, opts, notes)
    else:
        exam = run_exam(table, exam_labels, threshold=opts.threshold, weighting=opts.weighting,
                        exponent=opts.exponent, allow_unexamined=opts.allow_unexamined,
                        seed=opts.seed)
        if exam_labels is not None:  # the label-free signals, side by side with the exam
            _add_signals(table, exam, opts.latent_model)
    weights = np.array([r.weight for r in exam])
    method = opts.method or ("mean" if table.kind == "pointwise" else "vote")
    chair = make_chair(method, normalize=opts.normalize, seed=opts.seed)
    if chair.by_mean and len(table.pairwise):
        raise InputError("the mean method needs pointwise judgments only; these judgments "
                         "include pairwise ones (use --method vote or bradley-terry)")
    if opts.exclude_exam_items and exam_labels is not None:
        exam_items = exam_labels.items
        table = table.for_items(np.array([t not in exam_items for t in table.items]))
        table = table.judged_models_only()
        if not len(table.pairwise) and not len(table.scores):
            raise InputError("every judged item is an exam item: nothing is left to rank "
                             "(drop --exclude-exam-items)")
    available = int((weights[table.pairwise.reviewer] > 0).sum()
                    + (weights[table.scores.reviewer] > 0).sum())  # the qualified's judgments
    if opts.baseline is not None:
        table = against_baseline(table, opts.baseline)
    used_table, first_share = _scheduled(table, exam, weights, chair, opts, notes,
                                         _escalation(exam_table, exam_labels, weights, chair,
                                                     opts))
    evidence = gather_evidence(used_table, weights, by_mean=chair.by_mean,
                               normalize=opts.normalize, first_share=first_share,
                               counting=opts.counting)
    evidence, bias = calibrated(evidence, exam_table, exam_labels, study.submissions,
                                chair.by_mean, notes) if opts.calibrate_bias else (evidence, None)
    evidence, shrinkage = shrink_ranking(evidence, opts, chair, against_baseline(
        exam_table, opts.baseline) if opts.baseline and opts.shrink != Shrink.NONE else exam_table,
        study.exam_gold, exam_labels is not None, weights, first_share, notes)
    recorder = RecordingChair(chair)  # keeps the bootstrap's scores for the comparisons
    board = leaderboard(recorder, evidence, n_boot=opts.bootstrap, seed=opts.seed)
    style = controlled(evidence, study.submissions, tuple(opts.control), n_boot=opts.bootstrap,
                       seed=opts.seed, notes=notes)

    agreement = None
    singles: list[ReviewerAgreement] = []
    if gold_labels is not None:
        by_model = {row.model: row.score for row in board}
        scores = np.array([by_model[m] for m in table.models])
        agreement = measure_agreement(evidence, scores, gold_labels)
        if opts.per_reviewer:
            for r, name in enumerate(table.reviewers):
                ev = reviewer_evidence(table, r, by_mean=chair.by_mean,
                                       normalize=opts.normalize, counting=opts.counting)
                singles.append(ReviewerAgreement(
                    name, measure_agreement(ev, chair.scores(ev), gold_labels)))

    used = len(evidence.table.pairwise) + len(evidence.table.scores)  # qualified, ranked items
    notes += [f"reviewer {r.reviewer!r} had no exam pair and was left out "
              "(--allow-unexamined lets it in)"
              for r in exam if exam_labels is not None and not r.examined and not r.qualified]
    result = RankResult(method, table, exam, evidence, board, agreement, singles,
                        study.duplicates, used, available, notes, opts.schedule, study)
    result.style, result.bias, result.bootstrap = style, bias, opts.bootstrap
    result.shrinkage = shrinkage
    result.rankings = own_rankings(evidence.table, exam, chair, opts)
    if opts.bootstrap:  # every pair on the leaderboard's resamples (none: no interval)
        result.comparisons = compare_models(board, evidence, method, recorder.samples(
            evidence, opts.bootstrap, opts.seed), opts.seed)
    if opts.target_agreement is not None:
        result.guarantee, result.needs_review = calibrate(
            evidence.verdicts, evidence.table, exam_labels, opts.target_agreement, opts.delta)
        notes.append(result.guarantee.describe())
    if opts.audit:
        from peerreview.chair.audit import audit_ranking
        result.audit = audit_ranking(chair, evidence, board, exam, exam_labels)
        notes += result.audit["warnings"]
    if opts.ppi:
        result.ppi = ranking_ppi(evidence, gold_labels, exam_labels, notes)
    return result


def _escalation(exam_table: JudgmentTable, exam_labels: Gold | None, weights: FloatArray,
                chair: Chair, opts: RankOptions) -> Escalation | None:
    """With a target agreement, the threshold a cascade (or the adaptive schedule)
    escalates below, calibrated on the exam as a live run calibrates it."""
    if opts.target_agreement is None or opts.schedule not in (Schedule.CASCADE,
                                                              Schedule.ADAPTIVE):
        return None
    return escalation_for(exam_table, dict(zip(exam_table.reviewers, weights.tolist(),
                                               strict=True)), exam_labels,
                          opts.target_agreement, opts.delta, by_mean=chair.by_mean,
                          baseline=opts.baseline)


def _scheduled(table: JudgmentTable, exam: list[ExamResult], weights: FloatArray,
               chair: Chair, opts: RankOptions, notes: list[str],
               escalation: Escalation | None = None) -> tuple[JudgmentTable,
                                                              FloatArray | None]:
    """The judgments the schedule would have asked for, and for ``one-order`` each
    reviewer's first-position share (from a noisy Bradley-Terry fit) to remove."""
    qualified = [k for k, w in enumerate(weights) if w > 0]
    if opts.schedule in (Schedule.CASCADE, Schedule.ADAPTIVE):
        by_name = cascade_order([exam[k].reviewer for k in qualified],
                                [exam[k].exam_accuracy for k in qualified])
        order = [table.reviewers.index(name) for name in by_name]
    else:
        order = qualified
    if opts.schedule is Schedule.ONE_ORDER and not (table.pairwise.a_first >= 0).any():
        notes.append("one-order saves nothing here: these judgments have no display order")

    settled = settled_by(dict(zip(table.reviewers, weights.tolist(), strict=True)), chair,
                         opts.seed, opts.counting)
    used = select(table, opts.schedule, order, seed=opts.seed, budget=opts.budget,
                  settled=settled, escalation=escalation,
                  given=None if escalation is None else exam_rows(table, escalation.exam_gold))
    if escalation is not None:
        notes.append(escalation.describe())
    if opts.schedule is not Schedule.ONE_ORDER:
        return used, None
    fit = noisy_bradley_terry(used.votes(), len(table.reviewers), len(table.models))
    share = 0.5 * (1.0 + np.tanh(0.5 * np.nan_to_num(fit.bias)))
    return used, share


def against_baseline(table: JudgmentTable, baseline: str) -> JudgmentTable:
    """Only the judgments of pairs with ``baseline``: every model against one, as
    alpaca_eval and arena-hard compare (N - 1 pairs an item instead of N(N - 1)/2).

    Raises:
        InputError: the judgments are pointwise, or no judgment names the baseline.
    """
    if len(table.scores):
        raise InputError("a baseline picks pairs of models to compare: it is for pairwise "
                         "judgments, and these include scores", field="--baseline")
    if baseline not in table.models:
        shown = ", ".join(table.models[:8]) + (", ..." if len(table.models) > 8 else "")
        raise InputError(f"no judgment compares the baseline {baseline!r} (models: {shown})",
                         field="--baseline")
    b = table.models.index(baseline)
    p = table.pairwise
    return table.subset((p.a == b) | (p.b == b), np.ones(len(table.scores), np.bool_))


def own_rankings(table: JudgmentTable, exam: list[ExamResult], chair: Chair,
                 opts: RankOptions) -> dict[str, dict[str, int]]:
    """Each qualified reviewer's ranking of the models from its judgments in ``table``
    alone (the panel's), with the panel's chair, normalizing and counting."""
    qualified = {res.reviewer for res in exam if res.qualified}
    out = {}
    for r, name in enumerate(table.reviewers):
        if name in qualified:
            ev = reviewer_evidence(table, r, by_mean=chair.by_mean, normalize=opts.normalize,
                                   counting=opts.counting)
            own = ranks(chair.scores(ev)[None, :])[0]
            out[name] = {m: int(k) for m, k in zip(table.models, own.tolist(), strict=True)}
    return out


def settled_by(weights: dict[str, float], chair: Chair, seed: int,
               counting: Counting | None = None) -> Callable[[JudgmentTable], bool]:
    """The adaptive schedule's stopping rule, for recorded and live runs alike: whether
    the bootstrap rank intervals of adjacent models, from the judgments so far under
    these reviewer weights (and ``counting``), separate."""
    def settled(so_far: JudgmentTable) -> bool:
        w = np.array([weights.get(r, 0.0) for r in so_far.reviewers])
        evidence = gather_evidence(so_far, w, by_mean=chair.by_mean, counting=counting)
        return separated(leaderboard(chair, evidence, n_boot=200, seed=seed))
    return settled


def _position_notes(table: JudgmentTable) -> list[str]:
    """A warning for every reviewer that always picks the same position."""
    v = table.pairwise
    notes = []
    for r, name in enumerate(table.reviewers):
        mine = (v.reviewer == r) & ~v.abstain & (v.vote != 0)
        if mine.sum() < 10:
            continue
        first_won = votes_toward_first(v)[mine] > 0
        if first_won.all() or not first_won.any():
            side = "first" if first_won.all() else "second"
            notes.append(f"reviewer {name!r} chose the answer shown {side} in all "
                         f"{int(mine.sum())} of its decided verdicts: it judges position, "
                         "not content")
    return notes


def _add_signals(table: JudgmentTable, exam: list[ExamResult], latent_model: str) -> None:
    """The label-free qualification signals of every candidate."""
    fit = None  # one Dawid-Skene fit serves both signals where both want it
    if table.kind != "pointwise" and latent_model == "dawid-skene":
        fit = dawid_skene(table.votes(), len(table.reviewers), len(table.models))
    latent = fit.reliability if fit else latent_reliability(table, latent_model)
    confidence = self_confidence(table, fit)
    for res, value, conf in zip(exam, latent, confidence, strict=True):
        res.latent_reliability = value
        res.consistency_accuracy = consistency_accuracy(res.position_consistency)
        res.self_confidence = conf


def _label_free_exam(table: JudgmentTable, qualification: Qualification, opts: RankOptions,
                     notes: list[str]) -> list[ExamResult]:
    """Qualify by latent reliability or by order consistency, with the exam's threshold
    and weighting."""
    exam = candidates(table)
    _add_signals(table, exam, opts.latent_model)
    for res in exam:
        res.qualification_score = res.latent_reliability if qualification is \
            Qualification.LATENT else res.consistency_accuracy
    what = "latent reliability" if qualification is Qualification.LATENT else \
        "consistency-implied accuracy"
    known = [res for res in exam if res.qualification_score is not None]
    if not known:
        why = ("it needs at least two reviewers judging the same questions"
               if qualification is Qualification.LATENT else
               "it needs pairs judged in both orders")
        notes.append(f"no {what} could be estimated ({why}): every reviewer qualifies "
                     "with equal weight")
    elif len(known) < len(exam) and not opts.allow_unexamined:
        notes += [f"reviewer {res.reviewer!r} has no {what} and was left out "
                  "(--allow-unexamined lets it in)" for res in exam
                  if res.qualification_score is None]
    if len(table.reviewers) > 1 and len({round(r.qualification_score or 0, 6)
                                         for r in known}) == 1 and len(known) > 1:
        notes.append(f"every reviewer has the same {what}: they cannot be told apart")
    select_and_weight(exam, bool(known), opts.threshold, opts.weighting, opts.exponent,
                      opts.allow_unexamined, what)
    return exam


def as_study(judgments: Study | list[str | Path] | list[str] | list[Path] | list[Judgment]
             | JudgmentSet, *, exam_gold: str | Path | Gold | None = None,
             gold: str | Path | Gold | None = None,
             off_scale: OffScale = OffScale.KEEP) -> Study:
    """The study ``rank`` works on, from whatever it was given."""
    if isinstance(judgments, Study):
        if exam_gold is not None or gold is not None:
            raise InputError("a Study carries its own gold: give it to load_study")
        return judgments
    if isinstance(judgments, JudgmentSet):
        records: list[Judgment] | None = judgments.judgments
    elif judgments and all(isinstance(j, dict | PairwiseJudgment | PointwiseJudgment)
                           for j in judgments):
        records = [parse_judgment(j, Path("<records>"), k, off_scale) if isinstance(j, dict)
                   else j for k, j in enumerate(judgments, start=1)
                   if isinstance(j, dict | PairwiseJudgment | PointwiseJudgment)]
    else:
        records = None
    if records is None:
        paths = [str(p) for p in judgments]  # type: ignore[union-attr]
        file_exam = None if isinstance(exam_gold, Gold) else exam_gold
        file_gold = None if isinstance(gold, Gold) else gold
        study = load_study(paths, exam_gold=file_exam, gold=file_gold, off_scale=off_scale)
    else:
        study = study_of(records)
        if isinstance(judgments, JudgmentSet):
            study.duplicates, study.off_scale = judgments.duplicates, judgments.off_scale
        models = study.table.models
        if exam_gold is not None and not isinstance(exam_gold, Gold):
            study.exam_gold = gold_from_judgments(exam_gold, known_models=models)
        if gold is not None and not isinstance(gold, Gold):
            study.gold = gold_from_judgments(gold, known_models=models)
    if isinstance(exam_gold, Gold):
        study.exam_gold = exam_gold
    if isinstance(gold, Gold):
        study.gold = gold
    return study


def write_rank(result: RankResult, out_dir: str | Path) -> None:
    """Write the contract's files into ``out_dir``, all or nothing."""
    write_files(out_dir, result.files())
