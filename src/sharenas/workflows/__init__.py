"""Workflows: what a command does from start to end, above runs and reports. A search session
(the search, the baselines with the same budget, the report), a partition session (the study,
its chosen point trained, the front), several seeds of one request, and ``sharenas auto``."""
