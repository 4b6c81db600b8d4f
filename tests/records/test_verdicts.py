"""Reading verdicts in the formats real judges write: MT-Bench, arena-hard,
alpaca_eval, our structured answer, and prose; never guessing."""

from __future__ import annotations

import pytest

from peerreview.review.answers import parse_verdict

# (answer, winner, strength): answers as judges write them, and what a person reads.
ANSWERS = [
    # MT-Bench pairwise: [[A]], [[B]], [[C]] for a tie
    ("Assistant A follows the instructions more closely. [[A]]", "first", 1),
    ("Both are thorough, but Assistant B is more accurate about the dates.\n\n[[B]]",
     "second", 1),
    ("Neither assistant fully answers; they are of similar quality. [[C]]", "tie", 1),
    ("After comparing, my verdict: [[ B ]]", "second", 1),
    # arena-hard: five levels, strength kept
    ("My final verdict is tie: [[A=B]]", "tie", 1),
    ("My final verdict is: Assistant A is significantly better: [[A>>B]]", "first", 2),
    ("My final verdict is Assistant A is slightly better: [[A>B]]", "first", 1),
    ("My final verdict is Assistant B is slightly better: [[B>A]]", "second", 1),
    ("My final verdict is: [[B>>A]]", "second", 2),
    ("Assistant A's answer has a bug in the loop.\nMy final verdict is [[B>A]].", "second", 1),
    # a bracketed verdict outranks prose that names the other letter
    ("Assistant A is better at formatting, but B is correct. [[B]]", "second", 1),
    ("I first thought Answer B is better, yet on reflection [[A>B]]", "first", 1),
    ("Answer A is more concise; answer B is wordy but complete. Final: [[A=B]]", "tie", 1),
    # alpaca_eval: "m" is the output shown first, "M" the second; Output (a)/(b)
    ("m", "first", 1),
    ("M", "second", 1),
    (" M\n", "second", 1),
    ("[{'model': 'M', 'rank': 1}, {'model': 'm', 'rank': 2}]", "second", 1),
    ('[{"model": "m", "rank": 1}, {"model": "M", "rank": 2}]', "first", 1),
    ("Output (a)", "first", 1),
    ("Output (b)", "second", 1),
    # our structured answer
    ('{"winner": "A"}', "first", 1),
    ('{"winner": "tie"}', "tie", 1),
    ('```json\n{"winner": "B", "reason": "A misreads the question"}\n```', "second", 1),
    # prose verdicts
    ("Answer A is better.", "first", 1),
    ("The better answer is B.", "second", 1),
    ("Response B is clearly better because it cites the source.", "second", 1),
    ("I prefer Answer A: it is shorter and still correct.", "first", 1),
    ("Both are equally good.", "tie", 1),
    ("It's a tie: both answers are correct and complete.", "tie", 1),
    ("Winner: B", "second", 1),
    ("Final verdict: A", "first", 1),
    ("Assistant B wins on accuracy.", "second", 1),
    ("Considering helpfulness, (A) is the better one... B is wrong. Answer A is better.",
     "first", 1),
    # bare answers
    ("A", "first", 1),
    (" b ", "second", 1),
    ("Tie", "tie", 1),
    ("(B)", "second", 1),
    ("Answer: A", "first", 1),
    # unreadable: no verdict, or two that disagree (re-asked, never guessed)
    ("Hmm, both have merit; hard to say.", None, None),
    ("", None, None),
    ("Answer A is better in style. Answer B is better in substance.", None, None),
    ("[[A]] ... on second thought [[B]]", None, None),
    ('{"winner": "A"} {"winner": "B"}', None, None),
    ("Better than A? Maybe.", None, None),
    ("I would rate answer A 7/10 and answer B 6/10.", None, None),
    ("Plan: compare A and B on accuracy, then on style.", None, None),
]


@pytest.mark.parametrize(("answer", "winner", "strength"), ANSWERS)
def test_reads_judges_formats(answer: str, winner: str | None, strength: int | None) -> None:
    assert parse_verdict(answer) == (winner, strength)


def test_the_table_is_large_and_covers_every_outcome() -> None:
    assert len(ANSWERS) >= 40
    assert {w for _, w, _ in ANSWERS} == {"first", "second", "tie", None}
