"""Random-weight checkpoints of the embedded models' shapes, for timing where the weights cannot go.

The GPU machines take at most 64 MiB with the checkout, less than either embedded
model's weights, so GPU timings use these: the real architectures and sizes (configs
written out below from the models' own ``config.json``), random weights, and a
word-level tokenizer over synthetic words ``w0 .. wN``. They are saved with
``save_pretrained`` and loaded through the project's own ``load_base``.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIALS = ["[PAD]", "[UNK]", "<s>", "</s>"]
WORDS = 2000  # tokenizer words (the embedding table keeps the model's full vocabulary size)

SHAPES = {
    # HuggingFaceTB/SmolLM2-135M-Instruct config.json
    "smollm2-135m": LlamaConfig(
        vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
        num_key_value_heads=3, max_position_embeddings=8192, rope_theta=100000.0, rms_norm_eps=1e-5,
        tie_word_embeddings=True, bos_token_id=2, eos_token_id=3, pad_token_id=0,
    ),
    # sentence-transformers/all-MiniLM-L6-v2 config.json
    "minilm-l6": BertConfig(
        vocab_size=30522, hidden_size=384, intermediate_size=1536, num_hidden_layers=6, num_attention_heads=12,
        max_position_embeddings=512, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
    ),
}  # fmt: skip


def save_random_model(shape: str, path: Path, seed: int = 0) -> Path:
    """A random model of ``shape`` and a tokenizer, saved at ``path`` (load with ``load_base``)."""
    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {sorted(SHAPES)}, got {shape!r}")
    config = SHAPES[shape]
    vocab = {token: i for i, token in enumerate(SPECIALS + [f"w{i}" for i in range(WORDS)])}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]", bos_token="<s>", eos_token="</s>")
    torch.manual_seed(seed)
    model = BertModel(config) if isinstance(config, BertConfig) else LlamaForCausalLM(config)
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path


def random_texts(count: int, words: int, seed: int = 0) -> list[str]:
    """``count`` texts of exactly ``words`` tokenizer words each."""
    rng = random.Random(seed)
    return [" ".join(f"w{rng.randrange(WORDS)}" for _ in range(words)) for _ in range(count)]
