"""Size and load time of report.html for a large run: 20 models x 1,000 items x
10 reviewers, every pair judged in both orders (3.8 million judgments).

Prints the time to render the report, its size, and (with Chromium at hand) the
time headless Chromium takes to load the page and show an item, and to search.

    python benchmarks/report.py [--models 20 --items 1000 --reviewers 10]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from itertools import permutations
from pathlib import Path

import numpy as np
from splits import machine

from peerreview.output import whole
from peerreview.ranking import RankOptions, rank
from peerreview.records.exchange import Item, PairwiseJudgment, Submission
from peerreview.records.study import study_of
from peerreview.report import ReportInputs, render


def synthetic(models: int, items: int, reviewers: int, seed: int = 0) -> ReportInputs:
    rng = np.random.default_rng(seed)
    names = [f"model-{m:02d}" for m in range(models)]
    skill = np.linspace(1, -1, models)
    judgments = []
    for t in range(items):
        item = f"item-{t:04d}"
        for r in range(reviewers):
            for a, b in permutations(range(models), 2):
                p = 1 / (1 + np.exp(-(skill[a] - skill[b]) - 0.3))  # some first-position bias
                u = rng.random()
                judgments.append(PairwiseJudgment(
                    item, f"reviewer-{r}", names[a], names[b],
                    "first" if u < p - 0.05 else "second" if u > p + 0.05 else "tie"))
    texts = [Submission(f"item-{t:04d}", m, f"An answer by {m} to item {t}. " * 6)
             for t in range(items) for m in names]
    study = study_of(judgments, items={f"item-{t:04d}": Item(f"item-{t:04d}", f"Question {t}?")
                                       for t in range(items)}, submissions=texts)
    return ReportInputs(rank(study, options=RankOptions(per_reviewer=False)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--reviewers", type=int, default=10)
    args = parser.parse_args()
    start = time.perf_counter()
    inputs = synthetic(args.models, args.items, args.reviewers)
    ranked = time.perf_counter() - start
    start = time.perf_counter()
    html = whole(render(inputs)["report.html"])  # the page renders as it is read
    rendered = time.perf_counter() - start
    path = Path(tempfile.mkdtemp()) / "report.html"
    path.write_bytes(html)
    table = inputs.result.study.table if inputs.result.study else inputs.result.table
    rows = [("judgments", f"{len(table.pairwise):,}"),
            ("rank (build + chair)", f"{ranked:.1f} s"),
            ("render report.html", f"{rendered:.1f} s"),
            ("report.html size", f"{len(html) / 1e6:.1f} MB")]
    chromium = shutil.which("chromium")
    if chromium:
        from playwright.sync_api import sync_playwright
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium,
                                        args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            start = time.perf_counter()
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_selector("#item h3")
            rows.append(("Chromium: load and show the first item",
                         f"{time.perf_counter() - start:.2f} s"))
            start = time.perf_counter()
            page.fill("#search", "item-0999")
            page.wait_for_function("document.querySelector('#item h3')"
                                   ".textContent.includes('0999')")
            rows.append(("Chromium: search 1,000 items", f"{time.perf_counter() - start:.2f} s"))
            browser.close()
    print(f"# {args.models} models x {args.items} items x {args.reviewers} reviewers; "
          f"{machine()}")
    print("| measure | value |")
    print("|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
