"""What tests, benchmarks and users trying a config without paying use: a small
OpenAI-compatible stub endpoint (:mod:`.stub`; ``python -m peerreview.stub``).
"""
