"""The hardware-in-the-loop kit for engineers' tests (docs/testing.md): the simulated house, a
real broker and the controller in one `Rig` (`start_rig`), with the helpers a test asks with.

Its pytest fixtures are in `minisplit.testing.plugin`, which pytest loads by itself (the
package's `pytest11` entry point); nothing but that module imports pytest."""

from minisplit.testing.rig import Endpoint, NeedsSimulator, Rig, RigOptions, start_rig

__all__ = ["Endpoint", "NeedsSimulator", "Rig", "RigOptions", "start_rig"]
