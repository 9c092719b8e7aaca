"""The machinery behind ``benchmarks/run.py``: one module per job.

``env`` (paths, interpreters, subprocess environment), ``config`` (sizes, scenario lists),
``drivers`` (running one driver process), ``bench`` (interleaved rounds, saved results),
``experiments`` (what each scenario family runs), ``stats`` (medians, formatting), ``sheet``
(the report being written), ``tables_*`` (one report section each), ``targets`` (the issue's
targets table), ``machine`` (the machine section) and ``report`` (the whole ``RESULTS.md``).
"""
