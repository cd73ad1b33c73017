"""Test-wide setup: the service fixtures of tests/fixtures (engine, registries, proxy, skopeo)."""

pytest_plugins = ["tests.fixtures.plugin"]
