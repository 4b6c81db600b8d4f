"""PRE's qualification exam: grade reviewer candidates against human gold, select
those above the threshold and weight them (:mod:`.grade`); estimate their
reliability without labels (:mod:`.latent`).

Nothing here imports aiohttp, pydantic, sqlite3 or the live ring.
"""
