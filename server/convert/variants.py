"""VariantService messages <-> ``tuner.serving.types`` (Variant, Prediction, PredictResult).

Proto3 cannot tell an unset number from 0: ``max_new_tokens`` 0 means the server's
default and ``temperature`` 0 means 1.0, as the proto documents.
"""

from __future__ import annotations

from tuner.serving.requests import GenerationOptions
from tuner.serving.types import AdapterRef, Prediction, PredictResult, Variant
from server._proto.adaptune.v1 import serving_pb2 as pb


def variant_to_proto(variant: Variant) -> pb.Variant:
    return pb.Variant(
        variant_id=variant.variant_id,
        domain=variant.domain,
        base_model=variant.base_model,
        chain=[pb.AdapterRef(domain=ref.domain, version=ref.version) for ref in variant.chain],
        fallback=variant.fallback,
        fallback_reason=variant.fallback_reason,
        domain_source=variant.domain_source,
        user_known=variant.user_known,
        task=variant.task,
    )


def variant_from_proto(message: pb.Variant) -> Variant:
    return Variant(
        variant_id=message.variant_id,
        domain=message.domain,
        base_model=message.base_model,
        task=message.task,
        chain=tuple(AdapterRef(ref.domain, ref.version) for ref in message.chain),
        fallback=message.fallback,
        fallback_reason=message.fallback_reason,
        domain_source=message.domain_source,
        user_known=message.user_known,
    )


def options_from_proto(message: pb.PredictRequest, default_new_tokens: int) -> GenerationOptions:
    return GenerationOptions(
        max_new_tokens=message.max_new_tokens or default_new_tokens,
        sample=message.sample,
        seed=message.seed,
        temperature=message.temperature or 1.0,
    )


def options_to_proto(options: GenerationOptions | None) -> dict:
    """The generation fields of a PredictRequest (empty: the server's defaults)."""
    if options is None:
        return {}
    return {
        "max_new_tokens": options.max_new_tokens,
        "sample": options.sample,
        "seed": options.seed,
        "temperature": options.temperature,
    }


def result_to_proto(result: PredictResult) -> pb.PredictResponse:
    return pb.PredictResponse(
        variant=variant_to_proto(result.variant),
        predictions=[pb.Prediction(label=p.label, score=p.score, text=p.text) for p in result.predictions],
    )


def result_from_proto(message: pb.PredictResponse) -> PredictResult:
    return PredictResult(
        variant=variant_from_proto(message.variant),
        predictions=[Prediction(label=p.label, score=p.score, text=p.text) for p in message.predictions],
    )
