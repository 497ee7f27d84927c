"""Shared fixtures: real services (mosquitto broker, socat pty pair) live in tests/fixtures/."""

pytest_plugins = ["tests.fixtures.broker", "tests.fixtures.serial_pty"]
