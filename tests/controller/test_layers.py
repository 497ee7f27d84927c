"""What the import contract (`lint-imports`, pyproject.toml) cannot see: the controller's imports
of the simulator are lazy, so loading the controller never loads `minisplit.hil`."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A fresh interpreter: the test session itself has imported hil long before this test runs.
IMPORT_EVERY_CONTROLLER_MODULE = """
import importlib, pkgutil, sys
import minisplit.controller
for module in pkgutil.walk_packages(minisplit.controller.__path__, "minisplit.controller."):
    importlib.import_module(module.name)
print(sorted(name for name in sys.modules if name.startswith("minisplit.hil")))
"""


def test_loading_every_controller_module_loads_no_simulator_module():
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_CONTROLLER_MODULE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "[]"
