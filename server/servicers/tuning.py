"""TuningService: run a cycle (streaming its progress), list cycles, list/promote/roll back adapters,
and expert review (``server.servicers.reviews``).

Thin: convert, call ``CycleService`` or the registry, convert back. A second RunCycle while
one runs is FAILED_PRECONDITION naming the running cycle; a cycle that fails streams a
``failed`` event and then ends with the status its error maps to.
"""

from __future__ import annotations

import logging
from typing import Callable

import grpc

from recsys.cycles import list_cycles
from recsys.domains import check_domain_name
from recsys.store import Database
from server._proto.adaptune.v1 import tuning_pb2 as pb
from server._proto.adaptune.v1 import tuning_pb2_grpc as pb_grpc
from server.auth import current_principal
from server.context import AppContext
from server.convert import tuning as convert
from server.errors import grpc_errors
from server.reviewers import may_promote, require_decider
from server.scheduler import NightlyScheduler, parse_time_of_day
from server.servicers.reviews import ReviewRpcs
from tuner.cycle.config import CycleConfig
from tuner.cycle.service import CycleService
from tuner.review.store import reviews_by_version

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["TuningService"].full_name
DEFAULT_CYCLE_LIMIT = 20
log = logging.getLogger("adaptune.audit")


def _audit(what: str, domain: str) -> None:
    principal = current_principal()
    log.info("%s %r requested by %s", what, domain, repr(principal.name) if principal else "an unauthenticated caller")


class TuningServicer(ReviewRpcs, pb_grpc.TuningServiceServicer):
    def __init__(self, db: Database, cycles: CycleService, may_decide: Callable[[str], bool] = may_promote):
        self._db = db
        self._cycles = cycles
        self._may_decide = may_decide

    def _review_config(self) -> CycleConfig:
        return self._cycles.config

    @grpc_errors
    def RunCycle(self, request: pb.RunCycleRequest, context: grpc.ServicerContext):
        """Bad options: INVALID_ARGUMENT (nothing started); a cycle running: FAILED_PRECONDITION.

        The cycle runs on if the client goes away: it belongs to the server, not the call.
        """
        handle = self._cycles.start(convert.request_from_proto(request))
        for event in handle.events():
            yield convert.event_to_proto(event)
        if handle.error is not None:
            raise handle.error

    @grpc_errors
    def ListCycles(self, request: pb.ListCyclesRequest, context: grpc.ServicerContext) -> pb.ListCyclesResponse:
        records = list_cycles(self._db, request.limit or DEFAULT_CYCLE_LIMIT)
        return pb.ListCyclesResponse(cycles=[convert.cycle_to_proto(r) for r in records])

    @grpc_errors
    def ListAdapters(self, request: pb.ListAdaptersRequest, context: grpc.ServicerContext) -> pb.ListAdaptersResponse:
        domain = check_domain_name(request.domain) if request.domain else None
        records = self._cycles.registry.list(domain)
        reviews = reviews_by_version(self._db, domain)
        return pb.ListAdaptersResponse(
            adapters=[convert.adapter_to_proto(r, reviews.get((r.domain, r.version))) for r in records]
        )

    @grpc_errors
    def PromoteAdapter(self, request: pb.PromoteAdapterRequest, context: grpc.ServicerContext) -> pb.AdapterInfo:
        from tuner.registry import check_version

        domain, version = check_domain_name(request.domain), check_version(request.version)
        require_decider(context, self._may_decide, domain)  # the same right as approving a review
        _audit("promote", domain)
        record = self._cycles.registry.promote(domain, version)
        return convert.adapter_to_proto(record)

    @grpc_errors
    def RollbackAdapter(self, request: pb.RollbackAdapterRequest, context: grpc.ServicerContext) -> pb.AdapterInfo:
        domain = check_domain_name(request.domain)
        require_decider(context, self._may_decide, domain, action="rollback")
        _audit("rollback", domain)
        return convert.adapter_to_proto(self._cycles.registry.rollback(domain))


def install(server: grpc.Server, context: AppContext) -> str:
    """The cycle service (stale cycles marked interrupted first) and, when asked, the nightly schedule."""
    config = context.config
    cycles = CycleService(context.db, config.cycle, config.adapters_dir, config.reports_dir, executor=config.executor)
    cycles.recover()
    scheduler = None
    if config.nightly_at:
        scheduler = NightlyScheduler(parse_time_of_day(config.nightly_at), cycles.run)
        scheduler.start()
        context.on_stop.append(scheduler.request_stop)  # no new cycle, then cancel the running one
    context.on_stop.append(cycles.stop)
    context.cycles = cycles
    if scheduler is not None:
        context.on_stop.append(scheduler.stop)
    pb_grpc.add_TuningServiceServicer_to_server(TuningServicer(context.db, cycles), server)
    return SERVICE_NAME
