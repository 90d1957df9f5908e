"""Expert review: a domain's policy can hold a candidate that passed the gate until a person decides.

``policy``: whether a passing candidate waits. ``evidence``: what the reviewer sees (the
gate against the champion, the audits, layers, data window, and held-out inputs where the
two answer differently). ``store``: the ``reviews`` rows. ``decisions``: approve, reject,
expire, each one transaction with the adapter statuses and the cycle history.
No torch here: the server lists and decides reviews without loading a model.
"""
