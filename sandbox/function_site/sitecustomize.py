"""Run by Python at the start of every sandbox function process: its GitHub pacing reads GitHub's clock.

The sandbox's local Lambda runtime puts this directory on the process's PYTHONPATH, after the function's
code, and sets ``SANDBOX_GITHUB_CLOCK`` to ``"<epoch> <time_scale>"`` (sandbox/github_clock.py says why;
this is its ``GitHubClock.at``, which a function process cannot import). Nothing here runs on AWS.

The clock is installed when ``functions.common.github_pacing`` is first imported, not before: a function
that never paces (the receiver, a probe) imports nothing more than it would on AWS.
"""

import os
import sys
import time
from importlib.machinery import PathFinder

PACING = "functions.common.github_pacing"


class _PaceOnGitHubsClock:
    """A meta path finder that finds nothing itself: it lets the pacing module load, then gives it the clock."""

    def __init__(self, epoch: float, time_scale: float) -> None:
        self.epoch, self.time_scale = epoch, time_scale

    def github_time(self) -> float:
        return self.epoch + (time.time() - self.epoch) / self.time_scale

    def find_spec(self, name, path=None, target=None):  # noqa: ANN001, ANN201  (importlib's protocol)
        if name != PACING:
            return None
        sys.meta_path.remove(self)
        spec = PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module):  # noqa: ANN001, ANN202
            load(module)
            module.pacer = module.Pacer(self.github_time)

        spec.loader.exec_module = exec_module
        return spec


_clock = os.environ.get("SANDBOX_GITHUB_CLOCK")
if _clock:
    _epoch, _time_scale = (float(part) for part in _clock.split())
    sys.meta_path.insert(0, _PaceOnGitHubsClock(_epoch, _time_scale))
