"""VariantService: GetVariant and Predict on the process's one base model (thin: convert, call, convert).

The engine (base model + adapters) is loaded on the first call, so a server that never
serves predictions never loads a model. Bad inputs: INVALID_ARGUMENT naming the field
and index; unknown domain: NOT_FOUND; a variant whose adapter files are missing or
corrupt, or a base model that cannot load: FAILED_PRECONDITION (other variants keep
serving); every adapter slot held by requests in flight: RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import threading
from pathlib import Path

import grpc

from recsys.store import Database
from server._proto.adaptune.v1 import serving_pb2 as pb
from server._proto.adaptune.v1 import serving_pb2_grpc as pb_grpc
from server.context import AppContext
from server.convert import variants as convert
from server.errors import grpc_errors
from server.metrics import ServerMetrics, Stopwatch, variant_kind
from tuner.serving.config import ServingConfig

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["VariantService"].full_name


class EngineHolder:
    """Loads the ServingEngine once, on first use; a failed load is retried by the next call."""

    def __init__(self, db: Database, adapters_dir: Path, config: ServingConfig) -> None:
        self._db = db
        self._adapters_dir = adapters_dir
        self.config = config
        self._engine = None
        self._lock = threading.Lock()

    def get(self):
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    from tuner.serving.engine import ServingEngine  # torch loads here, not at server start

                    self._engine = ServingEngine.open(self._db, self._adapters_dir, self.config)
        return self._engine

    def loaded(self):
        """The engine if a call loaded it already, else None (never loads: metrics read this)."""
        return self._engine

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None


class VariantServicer(pb_grpc.VariantServiceServicer):
    def __init__(self, engines: EngineHolder, metrics: ServerMetrics):
        self._engines = engines
        self._metrics = metrics

    @grpc_errors
    def GetVariant(self, request: pb.GetVariantRequest, context: grpc.ServicerContext) -> pb.Variant:
        variant = self._engines.get().get_variant(request.user_id, request.domain or None, base_only=request.base_only)
        return convert.variant_to_proto(variant)

    @grpc_errors
    def Predict(self, request: pb.PredictRequest, context: grpc.ServicerContext) -> pb.PredictResponse:
        engine = self._engines.get()
        options = convert.options_from_proto(request, engine.config.default_new_tokens)
        with Stopwatch() as watch:
            result = engine.predict(
                request.user_id, request.domain or None, list(request.inputs), options, base_only=request.base_only
            )
        self._metrics.record_predict(variant_kind(result.variant), watch.seconds, len(request.inputs))
        return convert.result_to_proto(result)


def install(server: grpc.Server, context: AppContext) -> str:
    engines = EngineHolder(context.db, context.config.adapters_dir, context.config.serving)
    context.on_stop.append(engines.close)
    context.engines = engines
    pb_grpc.add_VariantServiceServicer_to_server(VariantServicer(engines, context.metrics), server)
    return SERVICE_NAME
