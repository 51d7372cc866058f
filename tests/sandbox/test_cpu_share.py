"""CPU shares in proportion to memory (sandbox/cpu_share.py): the quota, the controller found, the files
written, against a temporary directory standing in for /sys/fs/cgroup; one test applies a real quota."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.cpu_share import (
    MIN_QUOTA_US,
    PERIOD_US,
    Controller,
    CpuShares,
    cpu_shares,
    find_controller,
    quota_us,
    vcpus_for,
)


@pytest.mark.parametrize(
    ("memory_mb", "cores", "expected"),
    [
        (128, 2, 1447),  # 128 / 1769 of 20 ms
        (256, 2, 2894),
        (1769, 2, PERIOD_US),  # one vCPU
        (3538, 2, 2 * PERIOD_US),
        (3538, 1, PERIOD_US),  # no more than the machine's cores
        (10240, 8, 115772),  # Lambda's largest: 5.79 vCPUs
        (20000, 16, 6 * PERIOD_US),  # never more than Lambda's 6 vCPUs
        (10, 2, MIN_QUOTA_US),  # the kernel's smallest quota
    ],
)
def test_the_quota_is_memory_over_1769_of_a_core_per_period(memory_mb: int, cores: int, expected: int) -> None:
    assert quota_us(memory_mb, cores) == expected


def test_no_quota_for_no_memory() -> None:
    with pytest.raises(ValueError, match="positive"):
        vcpus_for(0, 2)


def _v1(tmp_path: Path) -> Path:
    cpu = tmp_path / "cpu"
    cpu.mkdir()
    (cpu / "cpu.cfs_quota_us").write_text("-1\n")
    (cpu / "cgroup.procs").write_text("")
    return cpu


def _v2(tmp_path: Path, controllers: str = "cpuset cpu io memory pids") -> Path:
    (tmp_path / "cgroup.controllers").write_text(controllers + "\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    (tmp_path / "cgroup.procs").write_text("")
    return tmp_path


def test_cgroup_v2_is_found_where_cgroup_controllers_lists_cpu(tmp_path: Path) -> None:
    assert find_controller(_v2(tmp_path), platform="linux") == Controller(2, tmp_path)


def test_cgroup_v1_is_found_under_cpu_when_v2_has_no_cpu_controller(tmp_path: Path) -> None:
    _v2(tmp_path, controllers="memory pids")
    cpu = _v1(tmp_path)
    assert find_controller(tmp_path, platform="linux") == Controller(1, cpu)


def test_no_controller_says_why(tmp_path: Path) -> None:
    assert "no cgroup cpu controller" in str(find_controller(tmp_path, platform="linux"))
    assert "Linux only" in str(find_controller(tmp_path, platform="darwin"))


def test_v1_group_gets_period_and_quota_and_the_command_joins_it_first(tmp_path: Path) -> None:
    cpu = _v1(tmp_path)
    shares = CpuShares(Controller(1, cpu), cores=2, name="bench")

    argv, release = shares.wrap(256, ["python", "-m", "awslambdaric", "h.handler"])

    group = cpu / "bench" / "env-1"
    assert (group / "cpu.cfs_period_us").read_text() == str(PERIOD_US)
    assert (group / "cpu.cfs_quota_us").read_text() == "2894"
    assert argv == ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(group / "cgroup.procs"), "python", "-m"] + [
        "awslambdaric",
        "h.handler",
    ]
    assert (cpu / "bench" / "cpu.shares").read_text() == "1024"  # weighs as the one process in it
    shares.group(128)
    assert (cpu / "bench" / "cpu.shares").read_text() == "2048"
    release()
    assert not group.exists()
    assert (cpu / "bench" / "cpu.shares").read_text() == "1024"
    shares.close()
    assert not (cpu / "bench").exists()


def test_v2_group_gets_cpu_max_and_the_cpu_controller_is_enabled_for_it(tmp_path: Path) -> None:
    root = _v2(tmp_path)
    shares = CpuShares(Controller(2, root), cores=2, name="bench")

    group = shares.group(128)

    assert (root / "cgroup.subtree_control").read_text() == "+cpu"
    assert (root / "bench" / "cgroup.subtree_control").read_text() == "+cpu"
    assert group.path == root / "bench" / "env-1"
    assert (group.path / "cpu.max").read_text() == f"1447 {PERIOD_US}"
    assert (root / "bench" / "cpu.weight").read_text() == "100"
    shares.close()
    assert not (root / "bench").exists()


def test_groups_started_unlimited_get_their_share_from_limit_all(tmp_path: Path) -> None:
    cpu = _v1(tmp_path)
    shares = CpuShares(Controller(1, cpu), cores=2, name="bench", start_unlimited=True)
    group = shares.group(512)
    assert not (group.path / "cpu.cfs_quota_us").exists()

    assert shares.limit_all() == 1
    assert (group.path / "cpu.cfs_quota_us").read_text() == "5789"
    assert shares.limit_all() == 0  # already limited
    shares.close()


def test_a_process_left_in_a_group_goes_back_to_the_root_before_the_group_is_removed(tmp_path: Path) -> None:
    cpu = _v1(tmp_path)
    shares = CpuShares(Controller(1, cpu), cores=2, name="bench")
    group = shares.group(128)
    group.procs.write_text("4242\n")

    shares.close()

    assert (cpu / "cgroup.procs").read_text() == "4242"
    assert not group.path.exists()


def test_cpu_shares_say_why_they_cannot_be_made(tmp_path: Path) -> None:
    cpu = _v1(tmp_path)
    (cpu / f"sandbox-lambda-{os.getpid()}").write_text("not a directory")  # mkdir fails

    reason = cpu_shares(root=tmp_path, cores=2)

    assert isinstance(reason, str) and reason.startswith(f"cannot make a cgroup under {cpu} (cgroup v1)")
    assert cpu_shares(
        root=tmp_path / "nothing-here"
    ) == f"no cgroup cpu controller under {tmp_path / 'nothing-here'}" + (
        " (neither cgroup v2 cpu.max nor v1 cpu.cfs_quota_us)"
    )


_real = cpu_shares()
_REASON = _real if isinstance(_real, str) else ""
if not isinstance(_real, str):
    _real.close()


@pytest.mark.skipif(bool(_REASON), reason=f"cgroups are not writable here: {_REASON}")
def test_a_real_process_runs_in_its_group_and_is_throttled_to_its_share() -> None:
    shares = cpu_shares()
    assert isinstance(shares, CpuShares)
    busy = (
        "import time\nend = time.monotonic() + 0.3\nwhile time.monotonic() < end: pass\n"
        "print(open('/proc/self/cgroup').read())"
    )
    try:
        argv, release = shares.wrap(128, [sys.executable, "-c", busy])
        group = Path(argv[3]).parent
        output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        stat = dict(line.split() for line in (group / "cpu.stat").read_text().splitlines())
        release()
    finally:
        shares.close()

    relative = "/" + str(group.relative_to(shares.controller.root))
    assert any(line.endswith(":" + relative) for line in output.splitlines())  # it ran inside its group
    assert int(stat["nr_throttled"]) > 0  # and the kernel held it to 7 % of a core
    assert not group.exists() and not shares.parent.exists()
