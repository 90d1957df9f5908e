"""Train one targeted LoRA adapter: a flat loop with validation, early stopping, progress.

Only the LoRA weights on the chosen (layer, module group) pairs and the classification
head require gradients; nothing below the lowest adapted layer does, so autograd's
backward pass stops there (no gradient checkpointing, no input-embedding grads), and
the frozen layers below it run once per example rather than once per step
(``tuner.frozen_prefix``): adapting only top layers is cheaper both ways. The best
validation checkpoint is restored: best by the gate's own metric (``TrainConfig.monitor``
"auto"), validation loss only breaking ties, since continued training can make the
head more confident (loss up) while it classifies better.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch
from tqdm.auto import tqdm

from tuner.adapters import Adapter
from tuner.architectures import MODULE_GROUPS
from tuner.config import TrainConfig, resolve_monitor
from tuner.data import Example, check_labels, require_training_examples
from tuner.encoding import Batch, batched
from tuner.frozen_prefix import MAX_CACHE_BYTES, FrozenPrefix, cache_bytes
from tuner.loading import BaseModel
from tuner.objectives import objective_for
from tuner.schedules import scheduler
from tuner.selection import Selection
from tuner.targeting import prepare_adapter

StepCallback = Callable[[int, int, float], None]


@dataclass(frozen=True)
class EvalPoint:
    """One validation pass; ``train_loss`` is the mean step loss since the previous one."""

    step: int
    train_loss: float | None
    val_loss: float | None
    val_accuracy: float | None = None
    # The monitored metric's value (equal to val_loss or val_accuracy when it is one of them).
    val_metric: float | None = None


@dataclass
class TrainResult:
    adapter: Adapter
    history: list[EvalPoint]
    step_losses: list[float]
    steps: int
    total_steps: int
    best_step: int
    stopped_early: bool
    # Seconds inside optimisation steps (forward, backward, update) plus caching the frozen
    # layers' output: what the choice of targets changes.
    train_seconds: float
    # Seconds in validation passes.
    eval_seconds: float
    # Seconds of each optimisation step (their median resists a busy machine's spikes).
    step_seconds: list[float]
    trainable_params: int
    lora_params: int
    warm_started_modules: int = 0
    best_metric: float | None = None
    # Frozen layers run once per example instead of every step (0: none), and the seconds that took.
    cached_layers: int = 0
    cache_seconds: float = 0.0
    # What selection watched ("loss", "accuracy" or "token_f1"), steps between
    # validation passes, and why training ended ("completed" or "patience").
    monitor: str = "loss"
    eval_every: int = 0
    stop_reason: str = "completed"
    # The start's validation score when it could not be kept (``TrainConfig.select_start`` off).
    start_not_kept: float | None = None
    # The best trained pass (patience counts from it, ``tuner.selection``; None: none scored).
    progress_step: int | None = None

    def why_stopped(self) -> str:
        """One line for reports: where it stopped, why, and which checkpoint it kept."""
        if self.best_metric is None:
            return f"ran all {self.steps} steps without validation; kept the last"
        best = f"kept step {self.best_step} (best {self.monitor} {self.best_metric:.4f})"
        if self.start_not_kept is not None:
            best += f"; the start scored {self.start_not_kept:.4f} there and may not be kept (selected on those rows)"
        if self.stop_reason == "patience":
            last = self.progress_step  # a stop needs a trained pass to count from
            since = sum(p.step > last for p in self.history)
            trained = "" if last == self.best_step else f" than training's best (step {last})"
            return (f"stopped at step {self.steps}/{self.total_steps}: {since} evaluations "
                    f"({self.steps - last} steps) without a better {self.monitor}{trained}; {best}")
        return f"ran all {self.steps} steps ({len(self.history)} evaluations, every {self.eval_every} steps); {best}"


def _resolve_labels(base: BaseModel, train: Sequence[Example], validation: Sequence[Example], labels) -> list[str]:
    if base.task != "classification":
        return []
    chosen = list(dict.fromkeys(labels)) if labels else sorted({e.target for e in train})
    check_labels(chosen, train, "training set")
    check_labels({e.target for e in train}, validation, "validation set")
    return chosen


def _trainable(adapter: Adapter) -> list[tuple[str, torch.nn.Parameter]]:
    params = [(f"model.{n}", p) for n, p in adapter.model.named_parameters() if p.requires_grad]
    if adapter.head is not None:
        params += [(f"head.{n}", p) for n, p in adapter.head.named_parameters()]
    return params


def _optimizer(adapter: Adapter, config: TrainConfig) -> torch.optim.Optimizer:
    groups = [{"params": [p for p in adapter.model.parameters() if p.requires_grad], "lr": config.lr}]
    if adapter.head is not None:
        groups.append({"params": list(adapter.head.parameters()), "lr": config.head_lr or config.lr})
    return torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)


def _set_mode(adapter: Adapter, training: bool) -> None:
    adapter.model.train(training)
    if adapter.head is not None:
        adapter.head.train(training)


Feed = Callable[[list[int], Batch], contextlib.AbstractContextManager]


def _validate(
    objective, adapter: Adapter, items: list, batch_size: int, feed: Feed | None = None
) -> tuple[float, float | None]:
    """Mean validation loss (and accuracy); ``feed(chunk, batch)`` supplies cached frozen-layer states."""
    _set_mode(adapter, False)
    loss_sum, count, correct = 0.0, 0, 0
    for chunk in batched(range(len(items)), batch_size):
        batch = objective.batch([items[i] for i in chunk])
        with feed(chunk, batch) if feed else contextlib.nullcontext():
            score = objective.score(adapter, batch)
        loss_sum, count, correct = loss_sum + score.loss_sum, count + score.count, correct + score.correct
    _set_mode(adapter, True)
    accuracy = correct / len(items) if adapter.head is not None else None
    return loss_sum / max(count, 1), accuracy


def eval_cadence(config: TrainConfig, steps_per_epoch: int, validation_rows: int) -> int:
    """Steps between validation passes: ``config.eval_every`` when set, else one pass per
    ``eval_examples`` training rows, or per ``validation_rows / eval_share`` when that is more
    (a pass scores every validation row), and at least one pass an epoch."""
    if config.eval_every:
        return config.eval_every
    rows = max(config.eval_examples, validation_rows / config.eval_share)
    return max(1, min(steps_per_epoch, math.ceil(rows / config.batch_size)))


def _replay_shares(new: int, replayed: int, epochs: int, generator: torch.Generator) -> list[list[int]]:
    """The replayed rows' indices (after the ``new`` training rows), shuffled once and cut into
    one share per epoch, so each is trained once over the run; none without replayed rows."""
    if not replayed:
        return []
    order = torch.randperm(replayed, generator=generator).tolist()
    return [[new + i for i in order[k * replayed // epochs : (k + 1) * replayed // epochs]] for k in range(epochs)]


class AdapterTrainer:
    """One adapter's training, a step at a time (``train_adapter`` runs it to the end).

    Stepping lets a caller interleave several trainings (the benchmark does, so a busy
    machine slows every strategy alike). Each trainer keeps its own RNG state for dropout
    and shuffling, so its result does not depend on what runs between its steps, and
    the caller's global RNG is left as it was.
    """

    def __init__(
        self,
        base: BaseModel,
        train: Sequence[Example],
        validation: Sequence[Example],
        *,
        layers: Sequence[int],
        groups: Sequence[str] = MODULE_GROUPS,
        config: TrainConfig = TrainConfig(),
        labels: Sequence[str] | None = None,
        init_from: Path | None = None,
        on_step: StepCallback | None = None,
        replay: Sequence[Example] = (),
        label_descriptions: Mapping[str, str] | None = None,
        rejected: Sequence[Example] = (),
    ) -> None:
        require_training_examples(train)
        self.monitor = resolve_monitor(config.monitor, base.task)
        rows = [*train, *replay]
        label_list = _resolve_labels(base, rows, validation, labels)
        self.base, self.config, self.on_step = base, config, on_step
        self.adapter, self.warm_started_modules = prepare_adapter(
            base, layers=layers, groups=groups, config=config, labels=label_list, init_from=init_from,
            examples=rows if config.imprint_new_labels else (), label_descriptions=label_descriptions,
        )
        self.objective = objective_for(base, label_list, config.max_length, config.label_smoothing)
        self.val_examples = list(validation)
        # ``train`` rows come first, then rejected answers, then ``replay`` (see _epoch_order).
        refused = self.objective.encode_rejected(rejected) if rejected and base.task == "classification" else []
        encoded = self.objective.encode(rows)
        self.train_items = encoded[: len(train)] + refused + encoded[len(train) :]
        self.new_rows = len(train) + len(refused)
        # Shortest first: a validation pass pads each batch to its longest item (the sums do not
        # depend on the order; the cached states below follow this order).
        self.val_items = sorted(self.objective.encode(validation), key=self.objective.length)
        self.trainable = _trainable(self.adapter)
        self._cache_frozen_layers()
        self.optimizer = _optimizer(self.adapter, config)
        # An epoch is every training row and 1/epochs of the replayed ones.
        steps_per_epoch = math.ceil((self.new_rows + len(replay) / config.epochs) / config.batch_size)
        self.total_steps = steps_per_epoch * config.epochs
        if config.max_steps is not None:
            self.total_steps = min(self.total_steps, config.max_steps)
        self.scheduler = scheduler(self.optimizer, self.total_steps, config.schedule, config.warmup)
        # Patience may end training only after this step (config.min_epochs), and only this
        # many steps after the best pass (config.patience_epochs).
        self.min_steps = min(self.total_steps, math.ceil(config.min_epochs * steps_per_epoch))
        self.patience_steps = math.ceil(config.patience_epochs * steps_per_epoch)
        self.eval_every = eval_cadence(config, steps_per_epoch, len(self.val_items))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self._rng = torch.random.get_rng_state()
        self._shuffle = torch.Generator().manual_seed(config.seed)
        self._order: list[int] = []
        self._epochs_started = 0
        self._replay_shares = _replay_shares(self.new_rows, len(replay), config.epochs, self._shuffle)
        self.step_count = 0
        self.history: list[EvalPoint] = []
        self.step_losses: list[float] = []
        self.step_seconds: list[float] = []
        self.eval_seconds = 0.0
        self.stopped_early = False
        self.selection = Selection(self.monitor, config.patience)
        self._best_state = self._snapshot()
        _set_mode(self.adapter, True)
        if self.val_items:
            self._evaluate()

    def _cache_frozen_layers(self) -> None:
        """Run the layers below the lowest adapted one once for every item, when it pays.

        Sets ``prefix`` (None: every step runs the whole model), the train and validation
        items' cached states, and the seconds that took.
        """
        self.prefix: FrozenPrefix | None = None
        self._train_states: list[torch.Tensor] = []
        self._val_states: list[torch.Tensor] = []
        self.cache_seconds = 0.0
        depth = min(self.adapter.info.layers)
        if not self.config.cache_frozen_layers or depth == 0:
            return
        items = self.train_items + self.val_items
        dtype = next(self.base.model.parameters()).dtype
        if cache_bytes([self.objective.length(i) for i in items], self.base.hidden_size, dtype) > MAX_CACHE_BYTES:
            return
        started = time.perf_counter()
        self.prefix = FrozenPrefix(self.adapter.model, depth)
        states = self.prefix.encode(items, self.objective.batch, self.objective.length, self.config.batch_size)
        self._train_states, self._val_states = states[: len(self.train_items)], states[len(self.train_items) :]
        self.cache_seconds = time.perf_counter() - started

    def _fed(self, states: list[torch.Tensor], chunk: list[int], batch: Batch) -> contextlib.AbstractContextManager:
        """Within it, the model starts from these items' cached states (when there are any)."""
        if self.prefix is None:
            return contextlib.nullcontext()
        return self.prefix.feeding([states[i] for i in chunk], batch.input_ids.shape[1])

    @property
    def done(self) -> bool:
        return self.step_count >= self.total_steps or self.stopped_early

    def _snapshot(self) -> dict[str, torch.Tensor]:
        return {name: p.detach().clone() for name, p in self.trainable}

    def _evaluate(self) -> None:
        started = time.perf_counter()
        val_loss, val_acc = _validate(
            self.objective, self.adapter, self.val_items, self.config.batch_size, partial(self._fed, self._val_states)
        )
        metric = {"loss": val_loss, "accuracy": val_acc}.get(self.monitor)
        if metric is None:
            metric = self._token_f1()
        self.eval_seconds += time.perf_counter() - started
        recent = self.step_losses[self.history[-1].step if self.history else 0 :]
        train_loss = sum(recent) / len(recent) if recent else None
        self.history.append(EvalPoint(self.step_count, train_loss, val_loss, val_acc, metric))
        if self.step_count == 0 and not self.config.select_start:
            return  # scored for the curve and the report, never kept (TrainConfig.select_start)
        if self.selection.offer(self.step_count, metric, val_loss):
            self._best_state = self._snapshot()

    def _token_f1(self) -> float:
        """Token F1 of greedy generations on the validation examples (what the gate compares)."""
        from tuner.evaluation import evaluate  # generation helpers, only for generative monitors

        _set_mode(self.adapter, False)
        try:
            metrics = evaluate(self.base, self.val_examples, self.adapter, group_by=(),
                               batch_size=self.config.batch_size, max_length=self.config.max_length)
        finally:
            _set_mode(self.adapter, True)
        return float(metrics["token_f1"])

    def _epoch_order(self) -> list[int]:
        """The next epoch's rows, shuffled: every training row and this epoch's replay share."""
        if not self._replay_shares:
            return torch.randperm(len(self.train_items), generator=self._shuffle).tolist()
        rows = [*range(self.new_rows), *self._replay_shares[self._epochs_started % len(self._replay_shares)]]
        self._epochs_started += 1
        return [rows[i] for i in torch.randperm(len(rows), generator=self._shuffle).tolist()]

    def step(self) -> float:
        """One optimisation step (and a validation pass when one is due); returns the loss."""
        if self.done:
            raise RuntimeError(f"training already finished after {self.step_count} steps")
        if not self._order:
            self._order = self._epoch_order()
        chunk, self._order = self._order[: self.config.batch_size], self._order[self.config.batch_size :]
        batch = self.objective.batch([self.train_items[i] for i in chunk])
        with torch.random.fork_rng(devices=[]):
            torch.random.set_rng_state(self._rng)
            started = time.perf_counter()
            with self._fed(self._train_states, chunk, batch):
                loss = self.objective.loss(self.adapter, batch)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.step_seconds.append(time.perf_counter() - started)
            self._rng = torch.random.get_rng_state()
        self.step_count += 1
        value = float(loss.detach())
        self.step_losses.append(value)
        if self.on_step is not None:
            self.on_step(self.step_count, self.total_steps, value)
        if self.val_items and (self.step_count % self.eval_every == 0 or self.step_count == self.total_steps):
            self._evaluate()
            if self._patience_ran_out() and self.min_steps <= self.step_count < self.total_steps:
                self.stopped_early = True
        return value

    def _patience_ran_out(self) -> bool:
        """``patience`` passes and ``patience_epochs`` of steps, both without a better trained pass."""
        since_progress = self.step_count - (self.selection.progress_step or 0)
        return self.selection.exhausted and since_progress >= self.patience_steps

    def result(self) -> TrainResult:
        """Restore the best validation checkpoint (the last step without validation)."""
        best_step = (self.selection.best_step or 0) if self.val_items else self.step_count
        if self.val_items:
            with torch.no_grad():
                for name, param in self.trainable:
                    param.copy_(self._best_state[name])
        self.adapter.eval()
        return TrainResult(
            adapter=self.adapter,
            history=self.history,
            step_losses=self.step_losses,
            steps=self.step_count,
            total_steps=self.total_steps,
            best_step=best_step,
            stopped_early=self.stopped_early,
            train_seconds=sum(self.step_seconds) + self.cache_seconds,
            eval_seconds=self.eval_seconds,
            step_seconds=self.step_seconds,
            trainable_params=sum(p.numel() for _, p in self.trainable),
            lora_params=sum(p.numel() for n, p in self.trainable if n.startswith("model.")),
            warm_started_modules=self.warm_started_modules,
            best_metric=self.selection.best_metric,
            cached_layers=0 if self.prefix is None else self.prefix.depth,
            cache_seconds=self.cache_seconds,
            monitor=self.monitor,
            eval_every=self.eval_every,
            stop_reason="patience" if self.stopped_early else "completed",
            progress_step=self.selection.progress_step,
            # history[0] is step 0's pass whenever there is validation (scored in __init__).
            start_not_kept=None if self.config.select_start or not self.history else self.history[0].val_metric,
        )


def train_adapter(
    base: BaseModel,
    train: Sequence[Example],
    validation: Sequence[Example],
    *,
    layers: Sequence[int],
    groups: Sequence[str] = MODULE_GROUPS,
    config: TrainConfig = TrainConfig(),
    labels: Sequence[str] | None = None,
    init_from: Path | None = None,
    on_step: StepCallback | None = None,
    replay: Sequence[Example] = (),
    label_descriptions: Mapping[str, str] | None = None,
    rejected: Sequence[Example] = (),
) -> TrainResult:
    """Train LoRA on ``layers`` x ``groups`` of ``base`` and return it with the best weights.

    ``labels`` fixes the head's label set (default: the training labels, sorted);
    ``init_from`` is a parent adapter folder to warm-start from; ``on_step(step, total,
    loss)`` is called after every step. ``replay``: rows the start already learned (a continued
    adapter's replayed history), each trained once, spread evenly over the epochs, while
    ``train`` rows are trained every epoch. ``label_descriptions`` (a domain's declared
    ones) shape the new head's starting rows with the names (``tuner.heads.label_embeddings``);
    with ``config.imprint_new_labels`` a row whose label has training rows is then imprinted
    from them, the name's row one more member (``tuner.inheritance``). ``rejected``: classification
    examples whose ``target`` is an answer users rejected without a correction; each is trained
    every pass with the complementary label's loss (that label pushed down), never imprinted. With an empty validation set there is no early
    stopping and the last step's weights are kept. Raises EmptyTrainingSetError,
    UnseenLabelError, ValueError (layers/groups out of range) before any work.
    """
    trainer = AdapterTrainer(
        base, train, validation, layers=layers, groups=groups, config=config,
        labels=labels, init_from=init_from, on_step=on_step, replay=replay, label_descriptions=label_descriptions,
        rejected=rejected,
    )
    description = f"tune {base.name} layers {list(trainer.adapter.info.layers)}"
    with tqdm(total=trainer.total_steps, desc=description, disable=not config.progress, leave=False) as bar:
        while not trainer.done:
            loss = trainer.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}")
    return trainer.result()
