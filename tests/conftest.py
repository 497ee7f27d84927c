"""Shared fixtures: the broker, the simulator and the controller come from the package's own
pytest plugin (minisplit.testing.plugin, loaded through its entry point); a socat pty pair
lives in tests/fixtures/; pytester runs the plugin on test files of its own."""

pytest_plugins = ["tests.fixtures.serial_pty", "pytester"]
