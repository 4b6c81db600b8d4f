"""A live run, PRE's pipeline with real models: the run config (:mod:`.config`), its
input files read once (:mod:`.inputs`), the stages (:mod:`.pipeline`), what a run
writes (:mod:`.files`), ``--dry-run`` estimates (:mod:`.plan`), and what it shows on
the terminal (:mod:`.progress`, :mod:`.console`).
"""
