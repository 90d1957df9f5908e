"""The targeted tuning cycle: rank, probe, tune only what matters, gate, promote.

``config`` (what a cycle does), ``planning`` (watermark -> ranked domains -> probes ->
layers), ``running`` (train, gate, commit everything at once), ``gate`` (candidate vs
champion on the same held-out rows, bias audit, decision), ``progress`` (events),
``report`` (Markdown + PNGs) and ``service`` (one cycle at a time, in a worker thread).
Modules are imported where used: ``config`` and ``progress`` stay free of torch so the
server's settings and the CLI load fast.
"""
