"""Model calls that are paid for once: the call key (:mod:`.key`), the caller that
counts every attempt through the run store (:mod:`.caller`), the SQLite store, its
writer thread and its named migrations (:mod:`.store`, :mod:`.writer`,
:mod:`.migrations`), rounds of provider batches (:mod:`.batches`) and executors past
this process (:mod:`.executors`: Ray, vllm run-batch).
"""
