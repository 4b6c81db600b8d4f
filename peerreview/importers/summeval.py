"""SummEval (Fabbri et al. 2021) with the LLM reviewers of DAMO-NLP-SG/LLM_summeval.

Items are the 100 CNN/DailyMail articles (``id``), models the 12 systems
(``model_id``). Gold is the mean of the three experts' ratings of the chosen
dimension. Reviewer answers are free text; the rating is read out of them
(:mod:`peerreview.review.answers`), and an answer that cannot be read is kept
as an abstention. Prompt variants other than ``rts`` are separate reviewers
(``gpt-3.5-turbo-0301:mcq``); files of other variants (``_old``, ``_cap``) are
leftovers upstream's own scripts ignore, and so do we.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from peerreview.errors import InputError
from peerreview.importers.imported import ImportedSet, require_dir
from peerreview.importers.shape import shape_warnings
from peerreview.records.exchange import (
    Item,
    Judgment,
    OffScale,
    PointwiseJudgment,
    Submission,
    iter_jsonl,
    off_scale_note,
    off_scale_score,
)
from peerreview.review.answers import parse_choice, parse_rating

DIMENSIONS = ("coherence", "consistency", "fluency", "relevance")
PROMPTS = ("rts", "mcq", "stareval", "altrts", "altmcq")
SCALE = (1.0, 5.0)


def import_summeval(path: str | Path, dimension: str = "relevance",
                    off_scale: OffScale = OffScale.KEEP) -> ImportedSet:
    """Import SummEval from its folder (``model_output_annotations/`` and
    ``eval_model_generations/``) for one quality dimension."""
    if dimension not in DIMENSIONS:
        raise InputError(f"unknown dimension {dimension!r}; choose from {', '.join(DIMENSIONS)}")
    root = Path(path)
    annotations = root / "model_output_annotations"
    require_dir(annotations, "SummEval folder holding model_output_annotations/")
    items: dict[str, Item] = {}
    submissions: list[Submission] = []
    gold: list[Judgment] = []
    files = sorted(annotations.glob("*_outputs_annotations.jsonl"))
    if not files:
        raise InputError("no *_outputs_annotations.jsonl files", annotations)
    for file in files:
        for line, obj in iter_jsonl(file):
            try:
                item, model = str(obj["id"]), str(obj["model_id"])
                experts = [float(a[dimension]) for a in obj["expert_annotations"]]
                refs = obj.get("references") or []
                items.setdefault(item, Item(item, obj["text"], refs[0] if refs else None,
                                            {"references": refs}))
                submissions.append(Submission(item, model, obj["decoded"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise InputError(f"unexpected record ({exc!r})", file, line) from None
            gold.append(PointwiseJudgment(item, "experts", model,
                                          sum(experts) / len(experts), SCALE))

    judgments: list[Judgment] = []
    notes: list[str] = []
    off: Counter[str] = Counter()
    generations = root / "eval_model_generations"
    require_dir(generations, "SummEval folder holding eval_model_generations/")
    for reviewer_dir in sorted(p for p in generations.iterdir() if p.is_dir()):
        for prompt in PROMPTS:
            reviewer = reviewer_dir.name + ("" if prompt == "rts" else f":{prompt}")
            read = parse_choice if prompt.endswith("mcq") else parse_rating
            repeats = 0
            for file in sorted(reviewer_dir.glob(f"eval_*_generations/{dimension}_{prompt}.txt")):
                model = file.parent.name.removeprefix("eval_").removesuffix("_generations")
                seen: set[str] = set()
                for line, obj in iter_jsonl(file):
                    item, resp = str(obj.get("id")), obj.get("resp")
                    if item not in items:
                        raise InputError(f"article {item!r} is in no annotation file",
                                         file, line, "id")
                    if item in seen:  # a repeated request: keep the first answer
                        repeats += 1
                        continue
                    seen.add(item)
                    score = read(resp)
                    if score is not None and not SCALE[0] <= score <= SCALE[1]:
                        off[reviewer] += 1
                        try:
                            score = off_scale_score(score, SCALE, off_scale)
                        except ValueError as exc:
                            raise InputError(str(exc), file, line, "resp") from None
                    judgments.append(PointwiseJudgment(item, reviewer, model, score, SCALE,
                                                       resp))
            if repeats:
                notes.append(f"{reviewer}: {repeats} repeated answers to the same article "
                             "and system ignored (the first is kept)")
    notes += off_scale_note(off, off_scale)
    item_list = list(items.values())
    return ImportedSet(item_list, submissions, judgments, gold, notes,
                       shape_warnings(item_list, submissions, judgments))
