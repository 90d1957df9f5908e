"""Client calls of VariantService: which variant serves a user, and its predictions.

    variant = client.get_variant("user-7")                 # the user's top domain
    answer = client.predict("user-7", ["I lost my card"], domain="banking")
    answer.variant.variant_id, answer.predictions[0].label
    base = client.predict("user-7", ["I lost my card"], base_only=True)  # the base model, same labels

Log interactions against ``answer.variant.variant_id`` so tuning knows what answered.
"""

from __future__ import annotations

from typing import Sequence

from server._proto.adaptune.v1 import serving_pb2 as pb
from server._proto.adaptune.v1 import serving_pb2_grpc as pb_grpc
from server.convert import variants as convert
from tuner.serving.requests import GenerationOptions
from tuner.serving.types import PredictResult, Variant


class VariantsMixin:
    """Methods of ``AdaptuneClient`` for VariantService (needs ``BaseClient``)."""

    @property
    def _variants(self) -> pb_grpc.VariantServiceStub:
        return self._stub(pb_grpc.VariantServiceStub)

    def get_variant(
        self, user_id: str, domain: str | None = None, *, base_only: bool = False, timeout: float | None = None
    ) -> Variant:
        """The variant for ``user_id`` in ``domain`` (default: the user's top predicted domain).

        ``base_only``: the bare base model for the same domain and labels instead.
        """
        request = pb.GetVariantRequest(user_id=user_id, domain=domain or "", base_only=base_only)
        return convert.variant_from_proto(self._call(self._variants.GetVariant, request, timeout=timeout))

    def predict(
        self,
        user_id: str,
        inputs: Sequence[str],
        domain: str | None = None,
        *,
        max_new_tokens: int | None = None,
        sample: bool = False,
        seed: int = 0,
        temperature: float = 1.0,
        base_only: bool = False,
        timeout: float | None = None,
    ) -> PredictResult:
        """One prediction per input from the user's variant (labels, or texts for generation).

        ``base_only`` asks the bare base model instead (same domain, same labels,
        zero-shot): put its answers beside the variant's to see what the adapter adds.

        Generation options are checked here first (ValueError naming the field); the
        server checks the inputs (InvalidArgumentError naming the index).
        """
        if isinstance(inputs, str):
            raise ValueError("inputs must be a list of texts, got a single string")
        fields = {}
        if max_new_tokens is not None or sample or seed or temperature != 1.0:
            options = GenerationOptions(max_new_tokens=max_new_tokens or 32, sample=sample, seed=seed, temperature=temperature)
            fields = convert.options_to_proto(options)
            if max_new_tokens is None:
                fields["max_new_tokens"] = 0  # the server's default
        request = pb.PredictRequest(user_id=user_id, domain=domain or "", inputs=list(inputs), base_only=base_only, **fields)
        return convert.result_from_proto(self._call(self._variants.Predict, request, timeout=timeout))
