"""``adaptune variant`` and ``adaptune predict`` against a real server with a tiny BERT."""

from __future__ import annotations

import pytest

from server.cli import main
from tests.serving_support import TEXTS, build_world, one_torch_thread  # noqa: F401 (fixture)
from tuner.predict import classify
from tuner.serving.config import ServingConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def served(server_factory, tmp_path, tiny_bert_dir, bert_classifier):
    live = server_factory(serving=ServingConfig(base_model=str(tiny_bert_dir)), adapters_dir=tmp_path / "adapters")
    world = build_world(tmp_path, bert_classifier, db=live.db)
    return live, world


def test_variant_names_the_routed_domain_and_its_adapter(served, capsys):
    live, _ = served
    assert main(["variant", "--address", live.address, "--user", "u2"]) == 0
    out = capsys.readouterr().out
    assert "+ banking@v0001" in out
    assert "domain banking (from ranking), user known: True" in out


def test_predict_prints_the_variants_and_the_bases_labels(served, capsys):
    live, world = served
    texts = TEXTS[:2]
    assert main(["predict", "--address", live.address, "--user", "u2", "--compare-base", *texts]) == 0
    out = capsys.readouterr().out
    tuned = classify(world.base, texts, world.registry.load(world.base, "banking"))
    bare = classify(world.base, texts, labels=world.records["banking"].labels)
    for text, mine, theirs in zip(texts, tuned, bare):
        block = out.split(repr(text), 1)[1]
        assert block.splitlines()[1].strip().startswith(f"variant: {mine.label} (")
        assert block.splitlines()[2].strip().startswith(f"base:    {theirs.label} (")


def test_predict_with_an_unknown_domain_fails_with_one_line(served, capsys):
    live, _ = served
    assert main(["predict", "--address", live.address, "--user", "u2", "--domain", "insurance", "hello"]) == 2
    err = capsys.readouterr().err
    assert "domain 'insurance' is unknown" in err and "Traceback" not in err
