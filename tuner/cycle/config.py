"""What a cycle does: one validated dataclass (saved as JSON), and the per-run request on top.

Kept free of torch (the server's settings and the CLI import it), so the module groups
and tasks are repeated here; a test keeps them equal to ``tuner.architectures`` and
``tuner.loading``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from recsys.domains import check_domain_name
from recsys.escalation import EscalationPolicy
from recsys.layers import DEFAULT_LAYER_BUDGET
from tuner.config import DEFAULT_MAX_LENGTH, SCHEDULES, TrainConfig
from tuner.executors.config import KINDS as EXECUTOR_KINDS
from tuner.executors.config import check_ray_address
from tuner.device_names import check_device_name

LORA_GROUPS = ("attention", "mlp")
TASKS = ("classification", "generation")
MAX_DOMAINS = 100
_ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")


def default_train_config() -> TrainConfig:
    """A cycle's training: short, early-stopped, no progress bar (the cycle reports progress).

    The head trains at a quarter of LoRA's rate: a new head starts imprinted at its labels'
    centroids (``TrainConfig.imprint_new_labels``), so its rows have little to move, and
    at 5e-3 (set when heads started from the names) the first nights' passes pulled them
    off: at 5e-4, first nights 0.3 to 3.3 points higher at 77 and 150 intents, last nights
    -0.7 to +0.9 on eight domains (README "Days benchmark", ``days_head_lr.json``).
    """
    return TrainConfig(
        rank=8, alpha=16.0, dropout=0.05, lr=2e-3, head_lr=5e-4, batch_size=32, epochs=3,
        patience=3, max_length=DEFAULT_MAX_LENGTH, progress=False, label_smoothing=0.1,
    )  # fmt: skip


@dataclass(frozen=True)
class CycleConfig:
    """Settings of the nightly targeted cycle.

    A domain is tuned when it ranks among the top ``max_domains`` of the new events and
    has at least ``min_examples`` labeled events its adapters have not seen. Layers are
    chosen from gradient probes (``probe_examples`` corrected examples) under
    ``layer_budget`` (a fraction of the cost of adapting every layer: the compute budget).
    A candidate is promoted when its primary metric (accuracy, or token F1 for
    generation) on the held-out ``test`` share beats the champion's (or the base model's)
    on the same rows by at least ``margin`` (or, under the margin, wins significantly
    more of the rows where the two differ: one-sided sign test at ``significance``, 0
    for the margin alone; ``tuner.cycle.paired``), and the bias audit passes: for each of
    ``audit_attributes`` the gap between groups of at least ``audit_min_group`` examples
    is at most ``audit_bound``. A candidate that continues the champion (trained from it,
    or from the kept line that started at it, on more data) takes the sign test at
    ``continue_significance`` instead (None: ``significance``): it starts as the champion,
    so the rows need only fail to speak against it. Of the kept candidates in the committed
    days results that this level would have promoted, none was worse on CLINC150's
    independent test (README "A continuation's gate"). Such a promotion is not proven; with
    ``anchor_evidence`` a later continuation that fails against it by too little is compared
    with the last proven champion of its line at ``significance`` and promoted when proven
    there, so small nights' evidence adds up (``tuner.cycle.anchor``). When users correct
    only some wrong answers (the others come back rejected, with no label), each corrected
    held-out row counts 1/(the share corrected) times in the gate, at most
    ``max_correction_weight`` times (1 turns it off): else the rows under-count the serving
    champion's mistakes and favour it (``tuner.cycle.reweighting``). With ``learn_from_rejections``
    those rejected answers train too, as labels their queries are not (the complementary
    label's loss, ``tuner.objectives``; README "Partial corrections").

    A domain that has a champion trains on its examples the champion has not seen plus
    a class-balanced replay of the older ones, ``replay_ratio`` times as many (at least
    ``replay_min``; None replays everything), so a cycle's cost follows the new events.
    Validation and the gate's held-out rows come from the whole history (forgetting is
    caught), class-balanced samples of at most ``max_validation`` and ``max_test`` rows.
    A warm-started candidate continues a trained adapter: it trains with
    ``continue_schedule`` (warmup over ``continue_warmup`` of its steps, then decay)
    instead of ``train.schedule``, so its first steps do not throw the champion's weights
    out of their optimum and its last ones refine; continuing its own domain's adapter, at
    ``continue_lr_scale`` times the rates (LoRA and head): re-warmed to the cold start's
    peak rate, a night of thousands of rows moved it away from what it knew (150 intents,
    two domains: 0.5 ended 0.7 and 0.9 points higher than 1.0; 77 intents: 1.2 and 0.8;
    README "Days benchmark").
    Continuing its own domain's adapter (not a child's first candidate, which starts
    from its parent with new rows only), it also runs all ``continue_epochs``
    passes over its new rows: its validation accuracy dips while the
    warmed-up rate is high and recovers as it decays, so patience would stop it before
    the decay (the best pass is still the one kept; 0 keeps ``train.epochs`` and patience).
    With ``spread_replay`` its replayed rows, which its start already learned, are each
    trained once, spread over those passes (new rows every pass): a night then costs
    ``continue_epochs`` passes over its new rows plus one over the replay, not
    ``continue_epochs`` over both (False: every pass covers both). Such a candidate never keeps
    its start (``continue_select_start`` False, ``TrainConfig.select_start``): the start was
    selected on the same validation rows, so its score there is inflated; the gate judges it
    against what training made of it on held-out rows instead.
    A cold start (a domain's first candidate) starts from a head imprinted from its
    examples (``TrainConfig.imprint_new_labels``), already a fitted classifier; like a
    continued candidate its validation accuracy dips in its first steps and recovers late,
    so with ``cold_start_all_epochs`` it runs all ``train.epochs`` passes (the best pass,
    the start included, is still the one kept): stopped by patience, even counted from
    training's best pass (``tuner.selection``), a 77-intent first night kept the untrained
    head (0.944 on CLINC's test; run through, 0.949; README "Days benchmark").
    A domain whose candidates
    fail the gate by the margin ``escalation_after`` cycles running while its error rate
    stays at or above ``escalation_error_rate`` gets ``escalation_budget_factor`` times
    the layer budget (up to ``escalation_max_level`` such steps; ``recsys.escalation``);
    failing ``escalation_after`` more cycles at the widest level sends it back to the level
    that last promoted, and each such retreat doubles the wait before the next widening.
    """

    base_model: str = "minilm-l6"
    task: str = "classification"
    max_domains: int = 3
    layer_budget: float = DEFAULT_LAYER_BUDGET
    min_examples: int = 20
    margin: float = 0.01
    significance: float = 0.05
    # The sign test's level for a candidate that continues the champion (None: ``significance``).
    continue_significance: float | None = 0.2
    # A continuation kept out by too small a gain is judged again against the last proven champion.
    anchor_evidence: bool = True
    # What one corrected held-out row may count for when some wrong answers went uncorrected (1: off).
    max_correction_weight: float = 10.0
    # Train on answers users rejected without a correction, as labels the input is not.
    learn_from_rejections: bool = True
    audit_attributes: tuple[str, ...] = ("region",)
    audit_bound: float = 0.25
    audit_min_group: int = 5
    validation: float = 0.1
    test: float = 0.2
    # One backward pass of 32 examples by default: enough to order layers, and cheap.
    probe_examples: int = 32
    probe_batch_size: int = 32
    groups: tuple[str, ...] = LORA_GROUPS
    # Tune only these domains (empty: any).
    domains: tuple[str, ...] = ()
    # Rank and plan (probes included) but train and register nothing.
    dry_run: bool = False
    # A candidate held for expert review and not decided within this many hours is rejected
    # (checked when a cycle starts and when reviews are listed).
    review_max_age_hours: float = 72.0
    replay_ratio: float | None = 0.5
    replay_min: int = 64
    max_validation: int = 1000
    max_test: int = 4000
    continue_schedule: str = "cosine"
    continue_warmup: float = 0.1
    continue_lr_scale: float = 0.5
    # A warm-started candidate's label smoothing (None: the cold start's, train.label_smoothing).
    # Measured on six domains: a cold start without smoothing and warm starts with it starts
    # higher but ends lower than smoothing every candidate (README "Days benchmark").
    continue_label_smoothing: float | None = None
    continue_epochs: int = 3
    spread_replay: bool = True
    continue_select_start: bool = False
    cold_start_all_epochs: bool = True
    escalation_after: int = 2
    escalation_error_rate: float = 0.05
    escalation_budget_factor: float = 2.0
    escalation_max_level: int = 2
    train: TrainConfig = field(default_factory=default_train_config)
    # Where probes, training and evaluation run: auto (CUDA when present), cpu or cuda.
    device: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "audit_attributes", tuple(self.audit_attributes))
        object.__setattr__(self, "groups", tuple(self.groups))
        object.__setattr__(self, "domains", tuple(self.domains))
        if not isinstance(self.base_model, str) or not self.base_model.strip():
            raise ValueError(f"base_model must be a catalog name or a checkpoint folder, got {self.base_model!r}")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {list(TASKS)}, got {self.task!r}")
        _int_in(self, "max_domains", 1, MAX_DOMAINS)
        _int_in(self, "min_examples", 1, None)
        _int_in(self, "audit_min_group", 1, None)
        _int_in(self, "probe_examples", 1, None)
        _int_in(self, "probe_batch_size", 1, None)
        _int_in(self, "replay_min", 0, None)
        _int_in(self, "max_validation", 1, None)
        _int_in(self, "max_test", 1, None)
        if self.continue_schedule not in SCHEDULES:
            raise ValueError(f"continue_schedule must be one of {list(SCHEDULES)}, got {self.continue_schedule!r}")
        _float_in(self, "continue_warmup", 0.0, 1.0, high_open=True)
        _float_in(self, "continue_lr_scale", 0.0, 1.0, low_open=True)
        if self.continue_label_smoothing is not None:
            _float_in(self, "continue_label_smoothing", 0.0, 1.0, high_open=True)
        _int_in(self, "continue_epochs", 0, None)
        self.escalation  # noqa: B018 - building the policy validates the escalation_* fields
        if self.replay_ratio is not None:
            _float_in(self, "replay_ratio", 0.0, math.inf)
        _float_in(self, "layer_budget", 0.0, 1.0, low_open=True)
        _float_in(self, "margin", 0.0, 1.0, high_open=True)
        if self.continue_significance is not None:
            _float_in(self, "continue_significance", 0.0, 1.0, high_open=True)
        _float_in(self, "significance", 0.0, 1.0, high_open=True)
        _float_in(self, "max_correction_weight", 1.0, math.inf, high_open=True)
        _float_in(self, "audit_bound", 0.0, 1.0)
        _float_in(self, "validation", 0.0, 1.0, high_open=True)
        _float_in(self, "test", 0.0, 1.0, low_open=True, high_open=True)
        if self.validation + self.test >= 1.0:
            raise ValueError(f"validation + test must be < 1, got {self.validation!r} + {self.test!r}")
        bad = [a for a in self.audit_attributes if not isinstance(a, str) or not _ATTRIBUTE.match(a)]
        if bad or len(set(self.audit_attributes)) != len(self.audit_attributes):
            raise ValueError(f"audit_attributes must be distinct attribute names, got {list(self.audit_attributes)!r}")
        bad = [g for g in self.groups if g not in LORA_GROUPS]
        if bad or not self.groups or len(set(self.groups)) != len(self.groups):
            raise ValueError(f"groups must be distinct values from {list(LORA_GROUPS)}, got {list(self.groups)!r}")
        for name in self.domains:
            check_domain_name(name, field="domains")
        if len(set(self.domains)) != len(self.domains):
            raise ValueError(f"domains lists a domain twice: {list(self.domains)!r}")
        for name in ("dry_run", "spread_replay", "continue_select_start", "cold_start_all_epochs", "anchor_evidence",
                     "learn_from_rejections"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}")
        hours = self.review_max_age_hours
        if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not 0 < hours < math.inf:
            raise ValueError(f"review_max_age_hours must be a finite number of hours > 0, got {hours!r}")
        check_device_name(self.device, "device")
        if not isinstance(self.train, TrainConfig):
            raise ValueError(f"train must be a TrainConfig, got {type(self.train).__name__}")

    def train_config(self, warm_start: bool, from_parent: bool = False) -> TrainConfig:
        """The training settings of a candidate: a cold start runs all its epochs
        (``cold_start_all_epochs``); a warm start gets the continuing schedule and
        rates; one that continues its own domain's adapter also ``continue_epochs`` passes, all
        run. A child's first candidate (``from_parent``) keeps the epochs and patience of
        ``train``: none of its rows are replayed ones, so its passes are over new rows only."""
        if not warm_start:
            return replace(self.train, min_epochs=float(self.train.epochs)) if self.cold_start_all_epochs else self.train
        head_lr = self.train.head_lr or self.train.lr
        continued = replace(self.train, schedule=self.continue_schedule, warmup=self.continue_warmup, head_lr=head_lr)
        if self.continue_label_smoothing is not None:
            continued = replace(continued, label_smoothing=self.continue_label_smoothing)
        if from_parent:
            return continued  # the cold start's rates: a child has its own (child_lr_scale, tuner.chains.child_config)
        scale = self.continue_lr_scale
        continued = replace(continued, lr=self.train.lr * scale, head_lr=head_lr * scale,
                            select_start=self.continue_select_start)
        if self.continue_epochs:
            continued = replace(continued, epochs=self.continue_epochs, min_epochs=float(self.continue_epochs))
        return continued

    @property
    def escalation(self) -> EscalationPolicy:
        return EscalationPolicy(self.escalation_after, self.escalation_error_rate,
                                self.escalation_budget_factor, self.escalation_max_level)

    @property
    def metric(self) -> str:
        """The primary metric the gate compares."""
        return "accuracy" if self.task == "classification" else "token_f1"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["train"] = self.train.to_json()
        for name in ("audit_attributes", "groups", "domains"):
            data[name] = list(data[name])
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CycleConfig":
        """Build from a dict (e.g. a JSON file), refusing keys this version does not know."""
        if not isinstance(data, dict):
            raise ValueError(f"a cycle config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown CycleConfig fields {unknown}; known: {sorted(known)}")
        values = dict(data)
        if "train" in values:
            train = values["train"]
            if not isinstance(train, dict):
                raise ValueError(f"train must be an object of TrainConfig fields, got {train!r}")
            values["train"] = TrainConfig.from_json({**default_train_config().to_json(), **train})
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | Path) -> "CycleConfig":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ValueError(f"cycle config file {str(path)!r} does not exist") from None
        except json.JSONDecodeError as error:
            raise ValueError(f"cycle config file {str(path)!r} is not valid JSON: {error.msg}") from None
        return cls.from_json(data)

    def merged(self, request: "CycleRequest") -> "CycleConfig":
        """This config with the request's options on top (None keeps the config's value)."""
        updates: dict[str, Any] = {"dry_run": request.dry_run}
        for name in ("max_domains", "layer_budget", "min_examples"):
            value = getattr(request, name)
            if value is not None:
                updates[name] = value
        if request.domains:
            updates["domains"] = request.domains
        return replace(self, **updates)


@dataclass(frozen=True)
class CycleRequest:
    """What one run asks for on top of the server's CycleConfig (None: the config's value)."""

    max_domains: int | None = None
    layer_budget: float | None = None
    min_examples: int | None = None
    dry_run: bool = False
    domains: tuple[str, ...] = ()
    # Where this run's jobs run (None: the server's executor); see tuner.executors.config.
    executor: str | None = None
    ray_address: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "domains", tuple(self.domains))
        if self.executor is not None and self.executor not in EXECUTOR_KINDS:
            raise ValueError(f"executor must be one of {list(EXECUTOR_KINDS)}, got {self.executor!r}")
        if self.ray_address is not None:
            check_ray_address(self.ray_address)
            if self.executor != "ray":
                raise ValueError(f"ray_address is only used with executor 'ray', got executor {self.executor!r}")
        if self.max_domains is not None:
            _int_in(self, "max_domains", 1, MAX_DOMAINS)
        if self.min_examples is not None:
            _int_in(self, "min_examples", 1, None)
        if self.layer_budget is not None:
            _float_in(self, "layer_budget", 0.0, 1.0, low_open=True)
        if not isinstance(self.dry_run, bool):
            raise ValueError(f"dry_run must be a bool, got {self.dry_run!r}")
        for name in self.domains:
            check_domain_name(name, field="domains")
        if len(set(self.domains)) != len(self.domains):
            raise ValueError(f"domains lists a domain twice: {list(self.domains)!r}")

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "domains": list(self.domains)}


def _int_in(owner: object, name: str, low: int, high: int | None) -> None:
    value = getattr(owner, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"in {low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")


def _float_in(
    owner: object, name: str, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> None:
    value = getattr(owner, name)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
