"""InteractionService: ingestion and reads of the event log."""

from __future__ import annotations

import grpc

from recsys.domains import domains_within, list_domains, upsert_domain
from recsys.events.log import AppendResult, append_columns
from recsys.events.query import DEFAULT_PAGE_SIZE, interaction_stats, list_page
from recsys.events.validate import EventLimits, InvalidEventError, check_batch_size
from recsys.store import Database
from server._proto.adaptune.v1 import interactions_pb2 as pb
from server._proto.adaptune.v1 import interactions_pb2_grpc as pb_grpc
from server.context import AppContext
from server.convert import interactions as convert
from server.errors import grpc_errors
from server.metrics import ServerMetrics, Stopwatch

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["InteractionService"].full_name


class InteractionServicer(pb_grpc.InteractionServiceServicer):
    def __init__(self, db: Database, limits: EventLimits, max_message_bytes: int, metrics: ServerMetrics):
        self._db = db
        self._limits = limits
        # Listings stay well under the message limit, whatever clients stored.
        self._listing_bytes = max_message_bytes // 2
        self._metrics = metrics

    def _append(self, interactions) -> AppendResult:
        """Store one batch and record what became of its events (metrics)."""
        with Stopwatch() as watch:
            result = append_columns(self._db, convert.columns_from_protos(interactions), limits=self._limits)
        self._metrics.record_batch(result, watch.seconds)
        return result

    @grpc_errors
    def LogInteractions(self, request_iterator, context: grpc.ServicerContext) -> pb.LogSummary:
        """Each batch is committed before the next is read; the summary comes after the last commit."""
        summary = convert.LogSummaryBuilder()
        for batch_index, batch in enumerate(request_iterator):
            check_batch_size(len(batch.interactions), self._limits, batch_index)  # before decoding it
            result = self._append(batch.interactions)
            summary.add(result, batch_index)
        return summary.to_proto()

    @grpc_errors
    def LogInteraction(self, request: pb.LogInteractionRequest, context: grpc.ServicerContext) -> pb.LogInteractionResponse:
        result = self._append([request.interaction])
        if result.rejections:
            raise InvalidEventError(result.rejections[0])
        return pb.LogInteractionResponse(duplicate=result.duplicates > 0)

    @grpc_errors
    def InteractionStats(self, request: pb.InteractionStatsRequest, context: grpc.ServicerContext) -> pb.InteractionStatsResponse:
        return convert.stats_to_proto(interaction_stats(self._db, domain=request.domain or None))

    @grpc_errors
    def ListInteractions(self, request: pb.ListInteractionsRequest, context: grpc.ServicerContext) -> pb.ListInteractionsResponse:
        page = list_page(
            self._db,
            domain=request.domain or None,
            user_id=request.user_id or None,
            limit=request.limit or DEFAULT_PAGE_SIZE,
            page_token=request.page_token,
            max_bytes=self._listing_bytes,
        )
        return convert.page_to_proto(page)

    @grpc_errors
    def UpsertDomain(self, request: pb.UpsertDomainRequest, context: grpc.ServicerContext) -> pb.Domain:
        record = convert.domain_from_proto(request.domain)
        return convert.domain_to_proto(upsert_domain(self._db, record, clear_labels=request.clear_labels))

    @grpc_errors
    def ListDomains(self, request: pb.ListDomainsRequest, context: grpc.ServicerContext) -> pb.ListDomainsResponse:
        records, truncated = domains_within(list_domains(self._db), self._listing_bytes)
        return pb.ListDomainsResponse(domains=[convert.domain_to_proto(d) for d in records], truncated=truncated)


def install(server: grpc.Server, context: AppContext) -> str:
    servicer = InteractionServicer(context.db, context.config.event_limits, context.config.max_message_bytes, context.metrics)
    pb_grpc.add_InteractionServiceServicer_to_server(servicer, server)
    return SERVICE_NAME
