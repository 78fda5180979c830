"""``supdyn sweep --slurm`` against a real one-node SLURM cluster started for this session.

Debian's ``slurmctld``, ``slurmd`` and ``munge`` (``scripts/test.sh`` installs them where apt-get runs
as root) are started without systemd, on free ports and in a private directory, with their own munge
socket, so that nothing of the machine's own SLURM (if any) is touched: munged as the ``munge`` user,
``ProctrackType=proctrack/linuxproc``, ``TaskPlugin=task/none``, ``select/cons_tres``, no accounting,
one node with this machine's CPUs and 90 % of its memory, one partition ``supdyn``. Without those
programs, or not as root, every test here is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import supdyn.sweep.cluster as cluster_mod
from supdyn.cli import main
from supdyn.config import load_spec
from supdyn.store import Store
from supdyn.train import train

ROOT = Path(__file__).resolve().parents[1]
SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "scancel", "squeue", "sinfo")
SPEC = ("[base]\nn_features = 32\nd_hidden = 8\nt_max = {t_max}\nbatch = 64\neval_size = 256\n[grid]\n"
        "seed = {seeds}\n[slurm]\nqueue = \"supdyn\"\nmemory = \"2GB\"\nwalltime = \"00:10:00\"\nmax_jobs = {jobs}\n")
CONF = """ClusterName=supdyntest
SlurmctldHost={host}
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
AuthInfo=socket={dir}/munge/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
NodeName={host} CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName=supdyn Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@pytest.fixture(scope="session")
def slurm():
    """A one-node SLURM cluster for this session: the environment its commands need (SLURM_CONF)."""
    missing = [p for p in PROGRAMS if shutil.which(p, path=SBIN) is None]
    if missing:
        pytest.skip(f"SLURM is not installed ({', '.join(missing)} missing); scripts/test.sh installs Debian's "
                    "slurmctld, slurmd and munge where apt-get runs as root")
    if os.geteuid() != 0:
        pytest.skip("a one-node SLURM needs root here (slurmd runs the jobs; munged runs as 'munge')")
    try:
        munge = pwd.getpwnam("munge")
    except KeyError:
        pytest.skip("no 'munge' user (the munge package creates it)")
    if not Path("/etc/munge/munge.key").is_file():
        pytest.skip("no /etc/munge/munge.key (the munge package creates it)")
    d = Path(tempfile.mkdtemp(prefix="supdyn-slurm-"))  # not under pytest's 0700 tmp: munged must reach it
    d.chmod(0o755)
    for sub in ("munge", "state", "spool"):
        (d / sub).mkdir()
    os.chown(d / "munge", munge.pw_uid, munge.pw_gid)
    host = socket.gethostname().split(".")[0]
    mem_mb = int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * 0.9) >> 20
    conf = d / "slurm.conf"
    conf.write_text(CONF.format(host=host, ctld_port=_free_port(), slurmd_port=_free_port(), dir=d,
                                cpus=os.cpu_count(), mem_mb=mem_mb))
    env = dict(os.environ, SLURM_CONF=str(conf), PATH=SBIN)
    sock = d / "munge" / "munge.socket"
    started = []
    try:
        subprocess.run(["runuser", "-u", "munge", "--", shutil.which("munged", path=SBIN), f"--socket={sock}",
                        f"--pid-file={d}/munge/munged.pid", f"--log-file={d}/munge/munged.log",
                        f"--seed-file={d}/munge/munged.seed"], check=True, capture_output=True, timeout=30)
        started.append(d / "munge" / "munged.pid")
        for daemon in ("slurmctld", "slurmd"):
            subprocess.run([shutil.which(daemon, path=SBIN), "-f", str(conf)], env=env, check=True,
                           capture_output=True, timeout=30)
            started.append(d / f"{daemon}.pid")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True).stdout
            if state.strip() in ("idle", "mixed", "allocated"):
                break
            time.sleep(0.2)
        else:
            log = (d / "slurmd.log").read_text()[-1500:] if (d / "slurmd.log").exists() else ""
            pytest.skip(f"the one-node SLURM did not come up (node state {state.strip()!r}): {log}")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        _stop(started, env)
        shutil.rmtree(d, ignore_errors=True)
        pytest.skip(f"could not start a one-node SLURM here: {exc}")
    yield env
    _stop(started, env)
    shutil.rmtree(d, ignore_errors=True)


def _stop(pid_files: list[Path], env: dict) -> None:
    subprocess.run(["scancel", "--name", "supdyn"], env=env, capture_output=True, timeout=30)
    for path in reversed(pid_files):  # the daemons this fixture started, by their pids
        pid = _pid(path)
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


@pytest.fixture
def slurm_env(slurm, monkeypatch):
    for key in ("SLURM_CONF", "PATH"):
        monkeypatch.setenv(key, slurm[key])
    return slurm


def _spec(tmp: Path, n: int, t_max: float = 5.0, jobs: int = 2) -> Path:
    path = tmp / "spec.toml"
    path.write_text(SPEC.format(t_max=t_max, seeds=list(range(n)), jobs=jobs))
    return path


def _equal_to_local(store: Store, spec: Path) -> None:
    cfgs, _ = load_spec(spec)
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as the SLURM workers (one thread each)
    try:
        for cfg in cfgs:
            (ref,) = train([cfg], progress=False)
            np.testing.assert_array_equal(store.load(cfg).loss, ref.loss)
    finally:
        torch.set_num_threads(before)


def test_sweep_through_slurm_stores_every_run(slurm_env, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # SLURM's job logs must not land here but in the store
    spec = _spec(tmp_path, 4)
    root = tmp_path / "store"
    assert main(["sweep", str(spec), "--slurm", "--store", str(root), "--no-progress", "--max-models", "1",
                 "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["n_computed"] == 4 and rep["failed"] == [] and "SLURM cluster" in rep["executor"]
    _equal_to_local(Store(root), spec)
    assert list(tmp_path.glob("slurm-*.out")) == [] and list((root / "_slurm").glob("supdyn-*.out"))


@pytest.mark.timeout(120)
def test_a_partition_slurm_rejects_is_one_line_not_a_hang(slurm_env, tmp_path, capsys):
    t0 = time.monotonic()
    rc = main(["sweep", str(_spec(tmp_path, 2)), "--slurm", "--slurm-queue", "nope", "--store", str(tmp_path / "s"),
               "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err.splitlines() == [
        "supdyn sweep: error: slurm: sbatch rejects the job (sbatch: error: invalid partition specified: nope); "
        "allowed: a partition, account and resources this SLURM cluster accepts (--slurm-queue, --slurm-account, "
        "--slurm-memory, --slurm-walltime, --slurm-cores, --slurm-gpus, or [slurm])"], err
    assert time.monotonic() - t0 < 60 and not Store(tmp_path / "s").run_ids()


@pytest.mark.timeout(120)
def test_a_submission_refused_while_sweeping_ends_the_sweep(slurm_env, tmp_path, capsys, monkeypatch):
    """If sbatch refuses the jobs only when they are submitted (the --test-only check passed, or was
    skipped here), the sweep ends with sbatch's error line instead of waiting forever for workers."""
    monkeypatch.setattr(cluster_mod, "check_submission", lambda cluster: None)
    rc = main(["sweep", str(_spec(tmp_path, 2)), "--slurm", "--slurm-queue", "nope", "--store", str(tmp_path / "s"),
               "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and err.splitlines() == [
        "supdyn sweep: error: slurm: job submission failed (sbatch: error: invalid partition specified: nope); "
        "allowed: options that sbatch accepts (--slurm-queue, --slurm-account, --slurm-memory, ... or [slurm])"], err


def test_sbatch_missing_is_one_line(slurm_env, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch on it
    rc = main(["sweep", str(_spec(tmp_path, 2)), "--slurm", "--store", str(tmp_path / "s"), "--no-progress"])
    (line,) = capsys.readouterr().err.splitlines()
    assert rc == 2 and line.startswith("supdyn sweep: error: slurm: sbatch not found on PATH")


def test_a_job_cancelled_mid_sweep_loses_nothing_and_the_sweep_resumes(slurm_env, tmp_path):
    """scancel of the running job once the first run is stored: the sweep goes on in a new job (its
    tasks are rescheduled), every run is stored once and equals a local run bit for bit, and the same
    command again finds everything stored."""
    spec = _spec(tmp_path, 4, t_max=1000.0, jobs=1)
    root = tmp_path / "store"
    cmd = [sys.executable, "-m", "supdyn", "sweep", str(spec), "--slurm", "--store", str(root), "--no-progress",
           "--max-models", "1", "--json"]
    env = dict(slurm_env, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    store = Store(root)
    deadline = time.monotonic() + 120
    while not store.run_ids() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    first = {rid: os.stat(store.path(rid) / "meta.json").st_mtime_ns for rid in store.run_ids()}
    assert first and proc.poll() is None
    jobs = subprocess.run(["squeue", "-h", "--name", "supdyn", "-o", "%i"], env=env, capture_output=True,
                          text=True).stdout.split()
    assert jobs, "no running SLURM job to cancel"
    subprocess.run(["scancel", *jobs], env=env, check=True, timeout=30)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode in (0, 1), err[-3000:]  # 1: a run killed too often was recorded as failed
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240, cwd=tmp_path)
    rep = json.loads(again.stdout)
    assert again.returncode == 0 and rep["failed"] == [] and rep["n_cached"] + rep["n_computed"] == 4, again.stderr
    assert all(os.stat(store.path(rid) / "meta.json").st_mtime_ns == m for rid, m in first.items())
    _equal_to_local(store, spec)
