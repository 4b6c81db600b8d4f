"""Reading ratings out of real reviewer answers (SummEval, LLM_summeval)."""

from __future__ import annotations

import pytest

from peerreview.review.answers import parse_choice, parse_rating

# Answers as the reviewers wrote them, and the rating a person reads in each.
REAL = [
    ("The summary accurately captures the main points of the article ... Final score: 5.", 5),
    (" Relevance Score: 5/5\nThe summary perfectly captures the main points", 5),
    (" The summary is a 4 out of 5 in terms of relevance because it accurately summarizes", 4),
    ("... and the club's recent sponsorship deal, making it a perfect relevance score of 5.", 5),
    (" Based on the given Summary, I would score it a 2 out of 5 in terms of relevance.", 2),
    ("The summary only covers a small portion ... resulting in a score of 2 for relevance.", 2),
    ("... and their plans for future videos, earning a score of 4 out of 5 for relevance.", 4),
    ("... rather than the main point; therefore, it is not very relevant. I would give it a "
     "score of 2.", 2),
    (" The summary only focuses on the viral video ..., therefore, the relevance score is 2.", 2),
    ("... making it a perfect relevance, score 5.", 5),
    ("... but it lacks important details and context, therefore, I score it 3 out of 5.", 3),
    ("3 stars", 3),
    ("Four stars. The summary captures the key points of the article", 4),
    ("... therefore, it is irrelevant (1).", 1),
    ("... leaves out important details ..., so I would give it a 3.", 3),
    ("... when it should be Filipe Luis. 4.", 4),
    ("... who scored. 2", 2),
    (" Based on the provided article, I would score the summary as follows:\n\nFluency: 3\n\n"
     "The summary is well-written", 3),
    ("... ends abruptly with an incomplete sentence, so it gets a 4.", 4),
    ("... making it a 5 in terms of coherence.", 5),
]

UNREADABLE = [
    "... Overall, the summary is well-structured and informative, indicating perfect fluency.",
    "... Real Madrid beat Chile 1-0 in El Clasico and that Dani Alves scored goals.",
    "I would rate this summary 7 out of 10.",
    "",
]


@pytest.mark.parametrize(("answer", "rating"), REAL)
def test_reads_real_answers(answer: str, rating: int) -> None:
    assert parse_rating(answer) == rating


@pytest.mark.parametrize("answer", UNREADABLE)
def test_unreadable_answers_abstain(answer: str) -> None:
    assert parse_rating(answer) is None


@pytest.mark.parametrize(("answer", "rating"), [("D", 4), ("E", 5), (" A", 1), ("(B)", 2),
                                                ("Answer: C", 3), ("F", None), ("", None)])
def test_multiple_choice(answer: str, rating: int | None) -> None:
    assert parse_choice(answer) == rating
