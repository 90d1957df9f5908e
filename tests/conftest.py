"""Shared fixtures live in tests/fixtures/, one module per area."""

pytest_plugins = [
    "tests.fixtures.server",
    "tests.fixtures.models",
    "tests.fixtures.ray_cluster",
    "tests.fixtures.dashboard",
]
