"""Client calls of TuningService: run a cycle (its progress as it happens), cycles, adapters."""

from __future__ import annotations

from typing import Callable, Iterator

import grpc

from recsys.cycles import CycleRecord
from server._proto.adaptune.v1 import tuning_pb2 as pb
from server._proto.adaptune.v1 import tuning_pb2_grpc as pb_grpc
from server.client.base import error_from_rpc
from server.convert import tuning as convert
from server.convert.tuning import AdapterSummary
from tuner.cycle.config import CycleRequest
from tuner.cycle.progress import CycleEvent


class TuningMixin:
    """Methods of ``AdaptuneClient`` for TuningService (needs ``BaseClient``)."""

    @property
    def _tuning(self) -> pb_grpc.TuningServiceStub:
        return self._stub(pb_grpc.TuningServiceStub)

    def stream_cycle(
        self,
        *,
        max_domains: int | None = None,
        layer_budget: float | None = None,
        min_examples: int | None = None,
        dry_run: bool = False,
        domains: tuple[str, ...] | list[str] = (),
        executor: str | None = None,
        ray_address: str | None = None,
        timeout: float | None = None,
    ) -> Iterator[CycleEvent]:
        """Start a cycle and yield its progress events until it finished.

        Options are checked here first (ValueError naming the field); None keeps the
        server's configured value. A cycle already running raises ClientError
        FAILED_PRECONDITION naming it; a cycle that fails yields its ``failed`` event,
        then raises. ``timeout`` bounds the whole cycle (default: none).
        """
        request = CycleRequest(
            max_domains=max_domains, layer_budget=layer_budget, min_examples=min_examples, dry_run=dry_run,
            domains=tuple(domains), executor=executor, ray_address=ray_address,
        )
        call = self._tuning.RunCycle(convert.request_to_proto(request), metadata=self._metadata, timeout=timeout)
        try:
            for message in call:
                yield convert.event_from_proto(message)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None

    def run_cycle(self, *, on_event: Callable[[CycleEvent], None] | None = None, **options) -> CycleEvent:
        """Run a cycle to the end (options as ``stream_cycle``); returns its ``finished`` event,
        whose ``summary`` says what was ranked, trained and decided."""
        last = None
        for event in self.stream_cycle(**options):
            if on_event is not None:
                on_event(event)
            last = event
        if last is None or last.stage != "finished":
            raise RuntimeError(f"the cycle stream ended without a finished event (last: {last})")
        return last

    def list_cycles(self, limit: int = 20) -> list[CycleRecord]:
        """The most recent cycles first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValueError(f"limit must be an integer in 1..1000, got {limit!r}")
        response = self._call(self._tuning.ListCycles, pb.ListCyclesRequest(limit=limit))
        return [convert.cycle_from_proto(c) for c in response.cycles]

    def list_adapters(self, domain: str | None = None) -> list[AdapterSummary]:
        response = self._call(self._tuning.ListAdapters, pb.ListAdaptersRequest(domain=domain or ""))
        return [convert.adapter_from_proto(a) for a in response.adapters]

    def promote_adapter(self, domain: str, version: str) -> AdapterSummary:
        request = pb.PromoteAdapterRequest(domain=domain, version=version)
        return convert.adapter_from_proto(self._call(self._tuning.PromoteAdapter, request))

    def rollback_adapter(self, domain: str) -> AdapterSummary:
        request = pb.RollbackAdapterRequest(domain=domain)
        return convert.adapter_from_proto(self._call(self._tuning.RollbackAdapter, request))
