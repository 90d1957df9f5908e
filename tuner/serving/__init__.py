"""Serving personalized variants: one base model per process, many LoRA adapters on it.

Modules, one concern each (import them directly; this package imports nothing so that
``tuner.serving.config`` and ``tuner.serving.types`` stay free of torch):

- ``config``: ServingConfig, the limits and sizes a server is started with.
- ``types``: Variant, AdapterRef, Prediction, PredictResult (plain data, no torch).
- ``errors``: failures a caller cannot fix by changing the request (FAILED_PRECONDITION).
- ``requests``: checks of a Predict request's inputs and generation options.
- ``routing``: a user's top predicted domain from a DomainRanker fitted on the log.
- ``labels``: label names a domain's log knows (zero-shot classification by the base).
- ``variants``: user + domain -> variant (adapter chain, versions, stable id, fallbacks).
- ``pool``: named adapters on one PEFT-wrapped fork, loaded on demand, leased, LRU-evicted.
- ``zero_shot``: cached zero-shot heads of the bare base, one per label set.
- ``forward``: one forward pass over rows of different adapters, then each row's head.
- ``batching``: concurrent requests joining one forward pass.
- ``engine``: ServingEngine, what the gRPC servicer and the benchmark call.
- ``export``, ``quantize``, ``compare``: merged and int8 checkpoints, checked against the variant.
- ``export_variant``: export a registered variant and write the comparison report.
- ``students``, ``distill``: a smaller student trained on a variant's outputs.
"""
