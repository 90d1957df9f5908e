"""Protobuf <-> core types (recsys, tuner), one module per service area; no logic beyond mapping."""
