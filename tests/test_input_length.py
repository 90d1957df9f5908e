"""How many tokens of an input count: the same in training, the cycle and serving, and
never more than the model has positions for.

The cut used to be 32 tokens in the cycle (64 when serving), tuned to CLINC150's queries
(at most 33 tokens); a message whose question follows a greeting lost its question. These
tests use the tiny BERT fixture (64 positions) and a toy task whose one deciding word comes
after 40 filler words.
"""

from __future__ import annotations

import random
from dataclasses import replace

from tests.fixtures.toy_data import FILLER, KEYWORDS
from tuner.config import DEFAULT_MAX_LENGTH, TrainConfig
from tuner.cycle.config import CycleConfig
from tuner.data import Example
from tuner.encoding import encode_pairs, encode_texts
from tuner.predict import classify
from tuner.serving.config import ServingConfig
from tuner.training import train_adapter

PREAMBLE_WORDS = 40


def long_message(label: str, rng: random.Random) -> str:
    """40 filler words (a greeting, a story), then the one word that decides the label."""
    return " ".join([*(rng.choice(FILLER) for _ in range(PREAMBLE_WORDS)), rng.choice(KEYWORDS[label])])


def long_examples(n: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    labels = sorted(KEYWORDS)
    return [Example(f"x{seed}-{i}", long_message(labels[i % len(labels)], rng), labels[i % len(labels)], "banking")
            for i in range(n)]


def test_training_the_cycle_and_serving_cut_inputs_alike():
    lengths = {"TrainConfig": TrainConfig().max_length, "cycle": CycleConfig().train.max_length,
               "serving": ServingConfig().max_length}
    assert set(lengths.values()) == {DEFAULT_MAX_LENGTH}, lengths


def test_the_cycle_keeps_the_word_after_a_long_preamble(bert_classifier):
    text = long_message("lost_card", random.Random(0))
    ids = encode_texts(bert_classifier.tokenizer, [text], CycleConfig().train.max_length)[0]
    assert len(ids) == PREAMBLE_WORDS + 3  # [CLS], the words, [SEP]: nothing cut
    assert ids[-2] == bert_classifier.tokenizer.convert_tokens_to_ids(text.split()[-1])
    assert len(encode_texts(bert_classifier.tokenizer, [text], 32)[0]) == 32  # the old cycle's cut lost it


def test_inputs_longer_than_the_models_positions_are_cut_to_fit(bert_classifier, llama_generator):
    positions = bert_classifier.model.config.max_position_embeddings
    assert positions < DEFAULT_MAX_LENGTH  # the fixture is smaller than the default cut
    text = " ".join(FILLER * 20)  # 300 words
    assert len(encode_texts(bert_classifier.tokenizer, [text], DEFAULT_MAX_LENGTH)[0]) == positions
    # Without the cap this indexes past the position table (IndexError) instead of answering.
    [prediction] = classify(bert_classifier, [text], labels=sorted(KEYWORDS))
    assert prediction.label in KEYWORDS
    generator_positions = llama_generator.model.config.max_position_embeddings
    [(prompt, answer)] = encode_pairs(llama_generator.tokenizer, [text], ["bill paid"], DEFAULT_MAX_LENGTH)
    assert len(prompt) + len(answer) <= generator_positions


def test_a_label_decided_after_32_tokens_is_learned_only_when_the_input_is_kept(bert_classifier):
    train, validation, test = long_examples(192, 1), long_examples(32, 2), long_examples(48, 3)
    config = TrainConfig(epochs=10, lr=5e-3, head_lr=1e-2, batch_size=16, patience=0, progress=False, seed=0)
    scores = {}
    for max_length in (32, DEFAULT_MAX_LENGTH):
        result = train_adapter(bert_classifier, train, validation, layers=[0, 1],
                               config=replace(config, max_length=max_length))
        predictions = classify(bert_classifier, [e.text for e in test], result.adapter)
        scores[max_length] = sum(p.label == e.target for p, e in zip(predictions, test)) / len(test)
    # Cut at 32 tokens every deciding word is gone: at best chance (4 labels). Kept whole, it is learned.
    assert scores[32] <= 0.45, scores
    assert scores[DEFAULT_MAX_LENGTH] >= 0.8, scores
