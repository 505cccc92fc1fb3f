"""Shared fixtures: the real servers come from the SDK's own pytest plugin."""

pytest_plugins = ["paas_sdk.testing.pytest_plugin"]
