"""Do soft verdicts help? Hard against soft votes of a reviewer with real probabilities.

The recorded sets carry no probabilities, so this asks the embedded model (Gemma 3
270M through llama.cpp, the ``local`` provider) for P(A) and P(B) on a slice of
Vicuna80 with human gold: the first ``--items`` questions, every pair of its five
models, both orders. Each answer is read as ``peerreview run`` reads it (the
completion prompt, :func:`peerreview.review.asker.preference` for the verdict and
:func:`peerreview.review.asker.first_share` for ``p_first``); the judgments are then
ranked by :func:`peerreview.rank` with hard votes (PRE) and with ``soft``, alone
and in a panel with the recorded reviewers, and measured against the human gold
on the same items. Prints a Markdown table and the machine line.

    python benchmarks/soft.py            # 20 questions x 10 pairs x 2 orders = 400 calls
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from splits import arguments, machine

from peerreview.importers import importer
from peerreview.models import make_backend
from peerreview.models.config import ModelConfig
from peerreview.prompts import fit, reviewer_template
from peerreview.ranking import Qualification, RankOptions, rank
from peerreview.records.exchange import Judgment, PairwiseJudgment, read_judgments
from peerreview.records.gold import gold_from_judgments
from peerreview.review.asker import TOP_LOGPROBS, confidence_of, first_share, preference

REVIEWER = "gemma-3-270m"


async def ask_all(questions: list[tuple[str, str, str, str, str, str]],
                  ) -> tuple[list[Judgment], float]:
    """The embedded model's judgment of every (item, input, first, second, texts)."""
    backend = make_backend(REVIEWER, ModelConfig(provider="local"))
    template = reviewer_template("completion", "pairwise")
    budget = (backend.context_tokens or 2048) - 1
    out: list[Judgment] = []
    start = time.perf_counter()
    for item, text, first, second, a, b in questions:
        fields = {"input": text, "reference": None, "first": a, "second": b, "rubric": None}
        prompt, _ = fit(template.render, fields, ["first", "second", "input"],
                        backend.count_tokens, budget)
        response = await backend.complete({"prompt": prompt, "top_logprobs": TOP_LOGPROBS})
        top = response.top_logprobs or {}
        winner, raw = preference(top)
        out.append(PairwiseJudgment(item, REVIEWER, first, second, winner,  # type: ignore[arg-type]
                                    raw, confidence_of(raw), p_first=first_share(top)))
    return out, time.perf_counter() - start


def _tau(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def main() -> None:
    parser = arguments(__doc__ or "")
    parser.add_argument("--items", type=int, default=20, help="questions (default 20)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "vicuna80"
        data = importer("vicuna80")(args.data / "vicuna80")
        data.write(folder)
        recorded = read_judgments(folder / "judgments.jsonl").judgments
        gold_all = gold_from_judgments(folder / "gold.jsonl")
    keep = [i for i in data.items if i.item in gold_all.items][:args.items]
    kept = {i.item for i in keep}
    texts = {(s.item, s.model): s.output for s in data.submissions}
    models = sorted({s.model for s in data.submissions})
    questions = [(i.item, i.input, m, n, texts[(i.item, m)], texts[(i.item, n)])
                 for i in keep for m in models for n in models
                 if m != n and (i.item, m) in texts and (i.item, n) in texts]
    gemma, seconds = asyncio.run(ask_all(questions))
    gold = gold_all.restrict(kept)
    panel = [j for j in recorded if j.item in kept]
    with_p = sum(isinstance(j, PairwiseJudgment) and j.p_first is not None for j in gemma)
    rows = []
    for label, judgments in ((f"{REVIEWER} alone", gemma),
                             ("the 5 recorded reviewers (no probabilities)", panel),
                             (f"{REVIEWER} + the 5 recorded reviewers", gemma + panel)):
        for method in ("vote", "bradley-terry"):
            acc = []
            for soft in (False, True):
                result = rank(judgments, gold=gold, options=RankOptions(
                    method=method, soft=soft, qualification=Qualification.NONE,
                    per_reviewer=False))
                assert result.agreement is not None
                acc.append(result.agreement)
            rows.append(f"| {label} | {method} | {acc[0].pairwise_accuracy:.3f} | "
                        f"{acc[1].pairwise_accuracy:.3f} | {_tau(acc[0].kendall_tau)} | "
                        f"{_tau(acc[1].kendall_tau)} |")
    print(f"Vicuna80, first {len(keep)} questions with human gold ({len(gold.pairs)} "
          f"decided gold pairs), {len(models)} models, {len(questions)} calls of the "
          f"embedded model ({seconds / max(len(questions), 1):.2f} s a call), "
          f"{with_p} with p_first; every reviewer weighs the same (no exam).\n")
    print("| reviewers | chair | pairwise acc., hard | soft | Kendall tau, hard | soft |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    first = sum(isinstance(j, PairwiseJudgment) and j.winner == "first" for j in gemma)
    shares = [abs(2 * j.p_first - 1) for j in gemma
              if isinstance(j, PairwiseJudgment) and j.p_first is not None]
    print(f"\n{REVIEWER} chose the answer shown first in {first} of {len(gemma)} calls; "
          f"its mean soft vote |2 p_first - 1| is {sum(shares) / max(len(shares), 1):.2f}.")
    print(f"\n{machine()}")


if __name__ == "__main__":
    main()
