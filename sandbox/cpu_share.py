"""CPU in proportion to memory, as Lambda gives it: one cgroup per function process with a CPU quota.

Lambda gives a function CPU in proportion to its configured memory: 1,769 MB is one full vCPU (AWS docs,
"Memory and computing power"), so 128 MB is about 7.2 % of one, up to 6 vCPUs at 10,240 MB. The local
runtime (sandbox/lambda_runtime.py) gives every process whatever the machine has, so a memory sweep there
measures nothing. :class:`CpuShares` puts each function process in its own cgroup whose CPU quota is
``memory / 1769`` of a core (capped at the machine's cores) and removes the cgroup when the process ends.

It needs Linux and a writable cgroup cpu controller: cgroup v2 (``cpu.max`` under a mount whose
``cgroup.controllers`` lists ``cpu``) or v1 (``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` under
``<root>/cpu``), which in practice means root. :func:`cpu_shares` says why when it cannot have them.

The period is ``PERIOD_US`` (20 ms, not the kernel's 100 ms default): with 100 ms a 128 MB process would
run a short invoke's first 7 ms at a full core before being held, so short invokes would not slow down in
proportion. Lambda does not document its own period.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: Lambda's memory per vCPU ("at 1,769 MB, a function has the equivalent of one vCPU").
MB_PER_VCPU = 1769
#: Lambda's most: 6 vCPUs (at 10,240 MB).
MAX_VCPUS = 6
PERIOD_US = 20_000
#: The kernel refuses a CFS quota under 1 ms.
MIN_QUOTA_US = 1_000
PROCS_FILE = "cgroup.procs"


def vcpus_for(memory_mb: int, cores: int) -> float:
    """The vCPUs Lambda gives ``memory_mb``, no more than Lambda's maximum or this machine's ``cores``."""
    if memory_mb <= 0 or cores <= 0:
        raise ValueError(f"memory and cores must be positive, got {memory_mb} MB and {cores} cores")
    return min(memory_mb / MB_PER_VCPU, MAX_VCPUS, cores)


def quota_us(memory_mb: int, cores: int, period_us: int = PERIOD_US) -> int:
    """The CFS quota per ``period_us`` for ``memory_mb``: 128 MB -> 1,447 us of every 20,000 us."""
    return max(MIN_QUOTA_US, round(vcpus_for(memory_mb, cores) * period_us))


@dataclass(frozen=True)
class Controller:
    """A mounted cgroup cpu controller: ``version`` 1 or 2, ``root`` the directory groups are made in."""

    version: int
    root: Path

    def weight_file(self, processes: int) -> tuple[str, str]:
        """The file and value that weigh a group as ``processes`` ungrouped processes (v1 1024 each, v2 100)."""
        if self.version == 2:
            return "cpu.weight", str(min(10_000, 100 * max(1, processes)))
        return "cpu.shares", str(1024 * max(1, processes))

    def limit_files(self, quota: int, period_us: int = PERIOD_US) -> dict[str, str]:
        """What to write into a group for a quota: v1 two files (period first), v2 one."""
        if self.version == 2:
            return {"cpu.max": f"{quota} {period_us}"}
        return {"cpu.cfs_period_us": str(period_us), "cpu.cfs_quota_us": str(quota)}


def find_controller(root: Path = CGROUP_ROOT, platform: str = sys.platform) -> Controller | str:
    """The cpu controller under ``root``, or why there is none (one line)."""
    if not platform.startswith("linux"):
        return f"cgroups are Linux only (this is {platform})"
    controllers = root / "cgroup.controllers"
    if controllers.is_file() and "cpu" in controllers.read_text().split():
        return Controller(2, root)
    v1 = root / "cpu"
    if (v1 / "cpu.cfs_quota_us").is_file():
        return Controller(1, v1)
    return f"no cgroup cpu controller under {root} (neither cgroup v2 cpu.max nor v1 cpu.cfs_quota_us)"


class CpuGroup:
    """One process's cgroup; :meth:`remove` moves what is left in it out and deletes it."""

    def __init__(self, controller: Controller, path: Path, memory_mb: int) -> None:
        self.controller = controller
        self.path = path
        self.memory_mb = memory_mb
        self.limited = False

    def limit(self, cores: int, period_us: int = PERIOD_US) -> None:
        """Give the group its memory's CPU share (from now on)."""
        quota = quota_us(self.memory_mb, cores, period_us)
        for file, value in self.controller.limit_files(quota, period_us).items():
            (self.path / file).write_text(value)
        self.limited = True

    @property
    def procs(self) -> Path:
        return self.path / PROCS_FILE

    def remove(self) -> None:
        if not self.path.exists():
            return
        try:
            pids = self.procs.read_text().split()
        except OSError:
            pids = []
        for pid in pids:  # a process that outlived the environment (it should not): back to the root
            with contextlib.suppress(OSError):
                (self.controller.root / PROCS_FILE).write_text(pid)
        _remove_dir(self.path)


def _remove_dir(path: Path) -> None:
    """rmdir a cgroup (its control files go with it); a plain directory standing in for one (tests) has
    regular files that must go first."""
    try:
        path.rmdir()
    except OSError as error:
        if error.errno != errno.ENOTEMPTY:
            raise
        for child in path.iterdir():
            if child.is_dir():
                _remove_dir(child)
            else:
                child.unlink()
        path.rmdir()


class CpuShares:
    """Makes a cgroup per function process under ``<controller root>/<name>/`` and removes them.

    :meth:`wrap` turns a command into one that joins its cgroup before it runs (``sh`` writes its own pid
    into ``cgroup.procs``, then ``exec``s the command, so the process runs limited from its first
    instruction, with the same pid); the release it returns removes the cgroup once the process is gone.

    With ``start_unlimited`` a new group has no limit until :meth:`limit_all`: the power-tuning sweep
    starts a process (its cold invoke, not measured) at full speed, then limits it for the warm invokes;
    a 128 MB init at 7 % of a core would take ~20 s, near the runtime's init limit.

    The parent group weighs as much as the processes in it would without it: the scheduler weighs a group
    as one process against the machine's other processes, so a busy machine would otherwise starve the
    function processes below their share.
    """

    def __init__(
        self,
        controller: Controller,
        cores: int,
        name: str | None = None,
        period_us: int = PERIOD_US,
        start_unlimited: bool = False,
    ) -> None:
        self.controller = controller
        self.start_unlimited = start_unlimited
        self.cores = cores
        self.period_us = period_us
        self.parent = controller.root / (name or f"sandbox-lambda-{os.getpid()}")
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._groups: set[CpuGroup] = set()
        self.parent.mkdir(exist_ok=True)
        if controller.version == 2:  # children of the parent get the cpu controller
            _enable_cpu(controller.root)
            _enable_cpu(self.parent)

    def group(self, memory_mb: int) -> CpuGroup:
        """A new cgroup limited to ``memory_mb``'s share of CPU."""
        with self._lock:
            group = CpuGroup(self.controller, self.parent / f"env-{next(self._numbers)}", memory_mb)
            self._groups.add(group)
        group.path.mkdir()
        if not self.start_unlimited:
            group.limit(self.cores, self.period_us)
        self._weigh_parent()
        return group

    def _weigh_parent(self) -> None:
        with self._lock:
            processes = len(self._groups)
        file, value = self.controller.weight_file(processes)
        with contextlib.suppress(OSError):  # a weight is an improvement, not a condition
            (self.parent / file).write_text(value)

    def limit_all(self) -> int:
        """Limit every group not limited yet; how many that was."""
        with self._lock:
            groups = [group for group in self._groups if not group.limited]
        for group in groups:
            group.limit(self.cores, self.period_us)
        return len(groups)

    def wrap(self, memory_mb: int, argv: Sequence[str]) -> tuple[list[str], Callable[[], None]]:
        """``argv`` run inside a new cgroup for ``memory_mb``, and the release to call once it has exited."""
        group = self.group(memory_mb)

        def release() -> None:
            with self._lock:
                self._groups.discard(group)
            group.remove()
            self._weigh_parent()

        return ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(group.procs), *argv], release

    def close(self) -> None:
        """Remove every cgroup still there, and the parent."""
        with self._lock:
            groups, self._groups = list(self._groups), set()
        for group in groups:
            group.remove()
        if self.parent.exists():
            _remove_dir(self.parent)


def _enable_cpu(group: Path) -> None:
    control = group / "cgroup.subtree_control"
    enabled = control.read_text().split() if control.exists() else []
    if "cpu" not in enabled:
        control.write_text("+cpu")


def cpu_shares(root: Path = CGROUP_ROOT, cores: int | None = None, start_unlimited: bool = False) -> CpuShares | str:
    """CPU shares on this machine, or one line saying why they are not available."""
    controller = find_controller(root)
    if isinstance(controller, str):
        return controller
    cores = cores or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    shares: CpuShares | None = None
    try:
        shares = CpuShares(controller, cores, start_unlimited=start_unlimited)
        probe = shares.group(128)
        if not probe.limited:
            probe.limit(cores, shares.period_us)  # the smallest quota must be accepted too
        probe.remove()
    except OSError as error:
        if shares is not None:
            with contextlib.suppress(OSError):
                shares.close()
        return f"cannot make a cgroup under {controller.root} (cgroup v{controller.version}): {error.strerror or error}"
    return shares
