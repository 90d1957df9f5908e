"""The layer-sensitivity probe on tiny random models loaded through the real loading code."""

from __future__ import annotations

import pytest
import torch

from recsys.layers import build_layer_importance
from recsys.probes import read_probes, write_probes
from recsys.store import open_database
from tests.fixtures.models import save_tiny_llama
from tests.fixtures.toy_data import toy_interactions
from tuner.encoding import encode_pairs, generation_batch
from tuner.loading import load_base
from tuner.probe import ProbeObservation, causal_lm_loss, probe_layers, to_probe_records


def corrected_batches(base, seed: int = 0, size: int = 4):
    """Batches of a domain's corrected examples: prompt -> the correct response."""
    events = [e for e in toy_interactions(24, seed=seed, generation=True) if e.feedback.value == "corrected"]
    pairs = encode_pairs(base.tokenizer, [e.input_text for e in events], [e.correction for e in events], 24)
    return [generation_batch(pairs[i : i + size], base.tokenizer.pad_token_id) for i in range(0, len(pairs), size)]


@pytest.fixture(scope="module")
def llama(tiny_llama_dir):
    return load_base(str(tiny_llama_dir), "generation")


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def test_one_observation_per_layer_and_group(llama):
    batches = corrected_batches(llama)
    observations = probe_layers(llama.model, batches, show_progress=False)
    assert [(o.layer, o.module_group) for o in observations] == [
        (layer, group) for layer in range(llama.num_layers) for group in ("attention", "mlp")
    ]
    assert all(o.n_examples == 8 for o in observations)
    assert all(o.grad_norm > 0 and torch.isfinite(torch.tensor(o.grad_norm)) for o in observations)


def test_stable_for_a_fixed_seed(llama, tiny_llama_dir, tmp_path):
    first = probe_layers(llama.model, corrected_batches(llama), show_progress=False)
    again = probe_layers(llama.model, corrected_batches(llama), show_progress=False)
    assert first == again
    # The same seed saved elsewhere and loaded again gives the same numbers; another seed does not.
    twin = load_base(str(save_tiny_llama(tmp_path / "twin", seed=0)), "generation")
    other = load_base(str(save_tiny_llama(tmp_path / "other", seed=1)), "generation")
    assert probe_layers(twin.model, corrected_batches(twin), show_progress=False) == first
    assert probe_layers(other.model, corrected_batches(other), show_progress=False) != first


def test_model_is_unchanged_afterwards(llama):
    model = llama.model
    before = snapshot(model)
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    model.train()  # the probe runs in eval mode and must restore whichever mode it found
    try:
        probe_layers(model, corrected_batches(llama), show_progress=False)
        assert model.training
    finally:
        model.eval()
    after = snapshot(model)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert {name: p.requires_grad for name, p in model.named_parameters()} == flags
    assert all(p.grad is None for p in model.parameters())


def test_gradient_reaches_only_layers_below_the_loss(llama):
    """A loss on layer 1's output cannot depend on layers 2 and 3: their norms are exactly 0."""

    def loss_after_layer_1(model, batch):
        hidden = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, output_hidden_states=True)
        return hidden.hidden_states[2].pow(2).mean()

    observations = probe_layers(llama.model, corrected_batches(llama), loss_after_layer_1, show_progress=False)
    norms = {(o.layer, o.module_group): o.grad_norm for o in observations}
    assert all(norms[(layer, g)] > 0 for layer in (0, 1) for g in ("attention", "mlp"))
    assert all(norms[(layer, g)] == 0.0 for layer in (2, 3) for g in ("attention", "mlp"))


def test_generic_loss_on_an_encoder(tiny_bert_dir):
    bert = load_base(str(tiny_bert_dir), "classification")
    encoded = bert.tokenizer(["please send money", "lost card today"], return_tensors="pt", padding=True)
    batch = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}

    def embedding_loss(model, b):
        return model(**b).last_hidden_state[:, 0].pow(2).mean()

    observations = probe_layers(bert.model, [batch], embedding_loss, groups=("mlp",), show_progress=False)
    assert [(o.layer, o.module_group) for o in observations] == [(0, "mlp"), (1, "mlp")]
    assert all(o.grad_norm > 0 and o.n_examples == 2 for o in observations)


def test_observations_land_in_the_probes_table(llama, tmp_path):
    db = open_database(tmp_path / "probe.duckdb")
    observations = probe_layers(llama.model, corrected_batches(llama), show_progress=False)
    write_probes(db, to_probe_records(observations, "banking", "tiny-llama", cycle_id="c1"))
    stored = read_probes(db, "tiny-llama")
    assert len(stored) == len(observations) and {r.cycle_id for r in stored} == {"c1"}
    assert len({r.probe_id for r in stored}) == 1
    importance = build_layer_importance(db, "tiny-llama", ["banking"])
    assert importance.num_layers == llama.num_layers and importance.probed.all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"groups": ("embeddings",)}, "groups"),
        ({"groups": ()}, "groups"),
        ({"max_batches": 0}, "max_batches"),
        ({"batches": []}, "no batches"),
        ({"batches": [{"input_ids": torch.ones(1, 3, dtype=torch.long)}]}, "labels"),
        ({"batches": [{"input_ids": torch.ones(1, 3, dtype=torch.long),
                       "labels": torch.full((1, 3), -100)}]}, "no response tokens"),
    ],
)
def test_bad_input_is_named_and_leaves_the_model_alone(llama, kwargs, message):
    before = snapshot(llama.model)
    arguments = {"batches": corrected_batches(llama), "show_progress": False, **kwargs}
    batches = arguments.pop("batches")
    with pytest.raises(ValueError, match=message):
        probe_layers(llama.model, batches, **arguments)
    assert not any(p.requires_grad for p in llama.model.parameters())
    assert all(torch.equal(before[k], v) for k, v in snapshot(llama.model).items())


def test_max_batches_limits_the_work(llama):
    observations = probe_layers(llama.model, corrected_batches(llama), max_batches=1, show_progress=False)
    assert isinstance(observations[0], ProbeObservation) and observations[0].n_examples == 4


def test_causal_lm_loss_counts_only_response_tokens(llama):
    batch = corrected_batches(llama)[0]
    loss = causal_lm_loss(llama.model, batch)
    assert loss.ndim == 0 and float(loss) > 0
