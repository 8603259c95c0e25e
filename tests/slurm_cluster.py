"""A real single-node SLURM for tests: munge, slurmctld and slurmd with a temporary configuration.

As root on Debian, with ``slurm-wlm`` and ``munge`` installed
(``scripts/install_slurm.sh``), this host becomes the controller and the only compute node; state,
spool, pid and log files live in a temporary folder, and the daemons are stopped by their pid files
afterwards. Without root or without the packages the fixture skips with the reason.

Use it from a test module with ``from slurm_cluster import slurm_cluster``; it yields a
:class:`SlurmCluster` and sets ``SLURM_CONF`` so that ``sbatch``/``squeue``/``scancel`` (and
``submitit``) talk to it.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

# Programs the fixture needs: from the Debian packages slurm-wlm (slurmctld, slurmd, slurm-client)
# and munge.
REQUIRED_PROGRAMS = ("munged", "munge", "slurmctld", "slurmd", "sbatch", "sinfo", "squeue", "scancel", "srun")
START_TIMEOUT_S = 45.0  # how long the daemons may take until sinfo shows the node idle
PARTITION = "debug"  # the cluster's only partition (the default one)


@dataclasses.dataclass
class SlurmCluster:
    """Where the running test cluster lives and how to reach it."""

    folder: Path  # temporary folder with slurm.conf, state, spool, pid and log files
    conf: Path  # slurm.conf (also exported as SLURM_CONF)
    node: str  # this host's name: controller and only node
    partition: str  # the default partition's name
    cpus: int  # CPUs the node offers

    def env(self) -> dict[str, str]:
        """The environment for SLURM client commands."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def command(self, *argv: str, check: bool = True) -> str:
        """Run a SLURM client command against this cluster; returns its stdout."""
        done = subprocess.run(argv, env=self.env(), capture_output=True, text=True, timeout=30)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
        return done.stdout

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of both daemons' logs, for failure messages."""
        parts = []
        for name in ("slurmctld.log", "slurmd.log"):
            path = self.folder / name
            text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else ["(no log)"]
            parts.append(f"--- {name}\n" + "\n".join(text))
        return "\n".join(parts)


def missing_requirement() -> str | None:
    """Why a real SLURM cannot be started here, or None when it can."""
    if os.geteuid() != 0:
        return "SLURM test cluster needs root (it starts munged, slurmctld and slurmd)"
    missing = [name for name in REQUIRED_PROGRAMS if shutil.which(name) is None]
    if missing:
        return (
            f"slurm-wlm/munge not installed (missing {', '.join(missing)}); "
            "run scripts/install_slurm.sh as root"
        )
    try:
        pwd.getpwnam("munge")
    except KeyError:
        return "the munge user does not exist; reinstall the munge package"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _real_memory_mb() -> int:
    """Memory to declare for the node: MemTotal less 10 % (slurmd rejects a node that has less)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(int(line.split()[1]) / 1024 * 0.9)
    return 1024


def write_slurm_conf(folder: Path, node: str, cpus: int) -> Path:
    """A minimal slurm.conf: this host is controller and only node; everything under ``folder``."""
    for sub in ("state", "spool"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    settings = {
        "ClusterName": "lsbooktest",
        "SlurmctldHost": node,
        "SlurmctldPort": _free_port(),
        "SlurmdPort": _free_port(),
        "SlurmUser": "root",
        "SlurmdUser": "root",
        "AuthType": "auth/munge",
        "StateSaveLocation": folder / "state",
        "SlurmdSpoolDir": folder / "spool",
        "SlurmctldPidFile": folder / "slurmctld.pid",
        "SlurmdPidFile": folder / "slurmd.pid",
        "SlurmctldLogFile": folder / "slurmctld.log",
        "SlurmdLogFile": folder / "slurmd.log",
        "ProctrackType": "proctrack/linuxproc",
        "TaskPlugin": "task/none",
        "SelectType": "select/cons_tres",
        "SelectTypeParameters": "CR_CPU",
        "SchedulerType": "sched/backfill",
        "MpiDefault": "none",
        "ReturnToService": 2,
        "AccountingStorageType": "accounting_storage/none",
        "JobAcctGatherType": "jobacct_gather/none",
        "JobCompType": "jobcomp/none",
        "SlurmctldTimeout": 30,
        "SlurmdTimeout": 30,
        "KillWait": 1,  # scancel: SIGKILL 1 s after SIGTERM (submitit ignores SIGTERM)
        "SchedulerParameters": "sched_interval=2",  # test jobs start within seconds
    }
    lines = [f"{key}={value}" for key, value in settings.items()]
    lines.append(f"NodeName={node} CPUs={cpus} RealMemory={_real_memory_mb()} State=UNKNOWN")
    lines.append(f"PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP")
    conf = folder / "slurm.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def _munge_works() -> bool:
    encode = subprocess.run(["munge", "-n"], capture_output=True, timeout=10)
    if encode.returncode != 0:
        return False
    return subprocess.run(["unmunge"], input=encode.stdout, capture_output=True, timeout=10).returncode == 0


def start_munge() -> Path | None:
    """Start munged as the munge user unless one already answers; returns its pid file if started."""
    if _munge_works():
        return None
    user = pwd.getpwnam("munge")
    for folder in (Path("/run/munge"), Path("/var/log/munge"), Path("/var/lib/munge"), Path("/etc/munge")):
        folder.mkdir(parents=True, exist_ok=True)
        os.chown(folder, user.pw_uid, user.pw_gid)
    folder_modes = {Path("/run/munge"): 0o755, Path("/var/log/munge"): 0o700, Path("/var/lib/munge"): 0o700,
                    Path("/etc/munge"): 0o700}
    for folder, mode in folder_modes.items():
        folder.chmod(mode)
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        subprocess.run(["runuser", "-u", "munge", "--", "mungekey", "--create", f"--keyfile={key}"], check=True)
    os.chown(key, user.pw_uid, user.pw_gid)
    key.chmod(0o600)
    subprocess.run(["runuser", "-u", "munge", "--", "munged"], check=True, timeout=30)
    deadline = time.monotonic() + 10
    while not _munge_works():
        if time.monotonic() > deadline:
            raise RuntimeError("munged started but munge -n | unmunge fails; see /var/log/munge/munged.log")
        time.sleep(0.2)
    return Path("/run/munge/munged.pid")


def stop_by_pid_file(pid_file: Path, timeout_s: float = 15.0) -> None:
    """SIGTERM the process named in a pid file and wait for it to go."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def wait_until_idle(cluster: SlurmCluster) -> None:
    """Wait until sinfo reports the node idle (the daemons talk to each other)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    state = ""
    while time.monotonic() < deadline:
        state = cluster.command("sinfo", "-h", "-N", "-o", "%T", check=False).strip()
        if state == "idle":
            return
        time.sleep(0.5)
    raise RuntimeError(f"SLURM node not idle after {START_TIMEOUT_S:.0f} s (state {state!r})\n"
                       f"{cluster.log_tail()}")


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """A running single-node SLURM for the tests of one module; stopped afterwards."""
    reason = missing_requirement()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("slurm")
    folder.chmod(0o755)  # slurmd (root) and job steps read the configuration and write logs here
    node = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    conf = write_slurm_conf(folder, node, cpus)
    cluster = SlurmCluster(folder=folder, conf=conf, node=node, partition=PARTITION, cpus=cpus)
    munge_pid_file = start_munge()
    previous_conf = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(conf)
    try:
        subprocess.run(["slurmctld", "-f", str(conf), "-c"], check=True, env=cluster.env(), timeout=30)
        subprocess.run(["slurmd", "-f", str(conf)], check=True, env=cluster.env(), timeout=30)
        wait_until_idle(cluster)
        yield cluster
    finally:
        for job_id in cluster.command("squeue", "-h", "-o", "%A", check=False).split():
            cluster.command("scancel", job_id, check=False)
        stop_by_pid_file(folder / "slurmd.pid")
        stop_by_pid_file(folder / "slurmctld.pid")
        if munge_pid_file is not None:
            stop_by_pid_file(munge_pid_file)
        if previous_conf is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous_conf
