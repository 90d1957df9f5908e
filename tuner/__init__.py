"""The tuner: fine-tune only chosen layers of a model as LoRA adapters, evaluate, register.

Public surface (import from the modules; this package imports nothing heavy itself):
``loading.load_base``, ``config.TrainConfig``, ``training.train_adapter``,
``evaluation.evaluate``, ``audit.bias_audit``, ``predict.predict``,
``adapters.load_adapter`` / ``save_adapter``, ``registry.AdapterRegistry``,
``chains.parent_champion`` / ``resolve_chain``, ``tune.tune_domain``.
"""
