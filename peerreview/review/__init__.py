"""The review: which questions a schedule asks (:mod:`.schedule`, one function for
recorded and live judgments), the live review stage's jobs (:mod:`.stage`), asking
evaluatees and reviewers through their prompts (:mod:`.asker`) and reading verdicts
and ratings out of their answers (:mod:`.answers`).
"""
