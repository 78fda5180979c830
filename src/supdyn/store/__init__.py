"""The run store: one directory per run, named by the run's identity, written atomically.

Layout of ``<root>``::

    <run_id>/config.json   canonical config (``RunConfig.to_dict``) and schema version
    <run_id>/arrays.npz    t, loss, steps, per_feature, snapshots (see ``RunResult.arrays``)
    <run_id>/meta.json     versions, device, engine, wall time, divergence, sha256 of arrays.npz, its own sha256
    _tmp/                  runs being written (renamed into place when complete)
    _failed/<run_id>.json  runs that raised, with the error and the number of attempts
    _corrupt/              runs whose files failed their checksum, moved aside for inspection

A directory whose config.json records another schema version (a run of an older supdyn, e.g. other
random streams) is left alone: its id is not the id of any config under this schema, so it is never
reused; ``table`` skips it and ``load`` raises :class:`OtherSchemaError`.

A run is written in ``_tmp/`` and renamed into place in one ``os.rename``: a reader sees either no
run or a complete one, a writer killed mid-write leaves only a temporary directory (cleaned later),
and when two writers race the first rename wins and the second discards its copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import socket
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from supdyn import __version__
from supdyn.config import CORRELATED_STREAM, SCHEMA_VERSION, RunConfig, from_dict, limits, resources
from supdyn.store.records import StoredRun, check_meta_types, meta_checksum
from supdyn.train import RunResult, group_key, run_steps

__all__ = ["CorruptRunError", "OtherSchemaError", "Store", "StoreWriteError", "StoredRun", "default_store_root",
           "meta_checksum", "pack"]

STALE_TMP_SECONDS = 3600.0
_DAMAGE = (ValueError, KeyError, TypeError, AttributeError, OSError, EOFError, zipfile.BadZipFile)


class CorruptRunError(KeyError):
    """A stored run whose files are missing, truncated or altered (it has been moved aside)."""


class StoreWriteError(OSError):
    """The store could not be written (disk full, permissions): one line, the path and the cause."""


class OtherSchemaError(KeyError):
    """A stored run written under another ``SCHEMA_VERSION`` (e.g. other random streams): it is left in
    place, never reused and not listed; its config can be run again."""


def default_store_root() -> Path:
    """``$SUPDYN_STORE`` if set, else ``./runs`` (an empty ``$SUPDYN_STORE`` is an error, not ``.``)."""
    env = os.environ.get("SUPDYN_STORE")
    if env is not None and not env.strip():
        raise ValueError("SUPDYN_STORE: got ''; allowed: a store directory (unset it for ./runs)")
    return Path(env or "runs")


def _config(doc: Any) -> RunConfig:
    """A stored run's config: what was stored is read back whatever the limits of this process."""
    with limits(resources.NO_LIMITS):
        return from_dict(doc)


def _id_here(cfg_doc: dict[str, Any]) -> str | None:
    """The run id of a stored config under this SCHEMA_VERSION, or None if it is no config here."""
    try:
        return _config(cfg_doc["config"]).run_id
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _check_meta(meta: Any, arrays: Path) -> None:
    check_meta_types(meta)
    if "meta_sha256" in meta and meta["meta_sha256"] != meta_checksum(meta):  # absent in older runs
        raise ValueError("meta.json checksum mismatch")
    if _sha256(arrays) != meta["arrays_sha256"]:
        raise ValueError("arrays.npz checksum mismatch")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Store:
    """A directory of runs keyed by ``RunConfig.run_id``."""

    def __init__(self, root: str | os.PathLike | None = None):
        if root is not None and not str(root).strip():
            raise ValueError("store: got ''; allowed: a store directory")
        self.root = Path(root) if root is not None else default_store_root()
        self._verified: dict[str, tuple] = {}  # run id → file stamps of its last good verification

    # -- paths ---------------------------------------------------------------------------------
    def path(self, run_id: str) -> Path:
        return self.root / run_id

    def ensure_writable(self) -> None:
        """Create the store if needed; ValueError (one line) unless files can be written in it."""
        try:
            (self.root / "_tmp").mkdir(parents=True, exist_ok=True)
            probe = self.root / "_tmp" / f".probe-{uuid.uuid4().hex}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            cause = exc.strerror or exc
            if self.root.is_symlink() and not self.root.exists():  # mkdir said "File exists"
                cause = f"a symbolic link to a missing {os.readlink(self.root)}"
            raise ValueError(f"store: cannot write to {self.root} ({cause}); allowed: a writable directory") from None

    # -- queries -------------------------------------------------------------------------------
    def __contains__(self, cfg_or_id: RunConfig | str) -> bool:
        rid = cfg_or_id.run_id if isinstance(cfg_or_id, RunConfig) else cfg_or_id
        return (self.path(rid) / "meta.json").is_file()

    def run_ids(self) -> list[str]:
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"store: {self.root} is not a directory; allowed: a store directory")
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if not p.name.startswith("_") and (p / "meta.json").is_file())

    def resolve(self, prefix: str) -> str:
        """Full run id from a unique prefix (any case). KeyError naming the prefix otherwise: the
        candidates of an ambiguous prefix, or where a run that was found corrupt was moved."""
        low = prefix.lower()
        ids = [r for r in self.run_ids() if r.startswith(low)] if prefix else []
        if len(ids) == 1:
            return ids[0]
        if len(ids) > 1:
            shown = ", ".join(r[:16] for r in ids[:8]) + (", ..." if len(ids) > 8 else "")
            raise KeyError(f"run id: prefix {prefix!r} is ambiguous ({len(ids)} runs: {shown}); "
                           "allowed: more characters of one of them")
        corrupt = sorted(p.name for p in (self.root / "_corrupt").glob(f"{low}*")) if prefix else []
        if corrupt:
            raise KeyError(f"run id: {prefix!r} was found corrupt and moved to {self.root / '_corrupt' / corrupt[-1]}; "
                           "allowed: train its config again (`supdyn train` / `supdyn sweep` compute it anew)")
        raise KeyError(f"run id: {prefix!r} not found in store {self.root}; "
                       "allowed: an id (or unique prefix) listed by `supdyn runs`")

    def verify(self, cfg_or_id: RunConfig | str) -> bool:
        """Whether the run is stored intact (the test of :meth:`missing`): the checks of :meth:`load`
        without loading the arrays; a damaged run is moved to ``_corrupt/`` and reported missing. A good
        result is remembered with the files' (inode, size, mtime): one hash per run per Store object."""
        rid = cfg_or_id.run_id if isinstance(cfg_or_id, RunConfig) else cfg_or_id
        d = self.path(rid)
        if not d.is_dir():
            return False
        try:
            stamp = tuple((st.st_ino, st.st_size, st.st_mtime_ns)
                          for st in (os.stat(d / name) for name in ("meta.json", "config.json", "arrays.npz")))
            if self._verified.get(rid) != stamp:
                self._read(rid, arrays=False)
        except (OtherSchemaError, PermissionError) as exc:
            if isinstance(exc, PermissionError):  # unreadable is not damaged: an I/O error, the run stays
                raise
            return False
        except _DAMAGE:
            if d.is_dir():
                self._quarantine(rid)
            return False
        self._verified[rid] = stamp
        return True

    def _read(self, rid: str, *, arrays: bool) -> StoredRun:
        """The run after every check: OtherSchemaError, or one of :data:`_DAMAGE` for a damaged run."""
        d = self.path(rid)
        cfg_doc = json.loads((d / "config.json").read_text())
        schema = cfg_doc.get("schema_version")
        if schema is not None and schema != SCHEMA_VERSION:
            if isinstance(schema, bool) or not isinstance(schema, int):
                raise ValueError(f"config.json: schema_version {schema!r} is not an integer")
            if _id_here(cfg_doc) == rid:  # another supdyn's run has another id: this one's field was altered
                raise ValueError(f"config.json: schema_version {schema} in a run of schema {SCHEMA_VERSION} (its "
                                 "config hashes to its run id here)")
            raise OtherSchemaError(f"run id: {rid} was stored under schema version {schema}, this supdyn "
                                   f"writes {SCHEMA_VERSION} (other random streams); run its config again")
        meta = json.loads((d / "meta.json").read_text())
        _check_meta(meta, d / "arrays.npz")
        cfg = _config(cfg_doc["config"])
        if cfg.run_id != rid:
            if cfg.data.correlation != "none" and cfg.run_id_at(correlated_stream=1) == rid:
                raise OtherSchemaError(f"run id: {rid} was drawn by correlated-feature sampler version 1, this "
                                       f"supdyn draws version {CORRELATED_STREAM} (other random streams); run its "
                                       "config again")
            raise ValueError("config does not hash to its run id")
        if not arrays:
            return StoredRun(rid, cfg, {}, meta)
        with np.load(d / "arrays.npz", allow_pickle=False) as npz:
            return StoredRun(rid, cfg, {k: npz[k] for k in npz.files}, meta)

    def load(self, run_id: str | RunConfig) -> StoredRun:
        """Read a run (by config, id or unique id prefix), verifying its checksums."""
        if isinstance(run_id, RunConfig):
            rid = run_id.run_id
        elif len(run_id) == 64 and set(run_id) <= set("0123456789abcdef") and self.path(run_id).is_dir():
            rid = run_id  # a full id: a run directory that lost its meta.json is still found (and moved aside)
        else:
            rid = self.resolve(run_id)
        d = self.path(rid)
        try:
            return self._read(rid, arrays=True)
        except FileNotFoundError:
            if not d.exists():
                raise KeyError(f"run id: {rid} not in store {self.root}") from None
            self._quarantine(rid)
            raise CorruptRunError(f"run {rid}: incomplete files (moved to {self.root / '_corrupt'})") from None
        except (OtherSchemaError, PermissionError):
            raise  # left in place, not quarantined (unreadable is an I/O error, not damage)
        except _DAMAGE as exc:
            self._quarantine(rid)
            raise CorruptRunError(f"run {rid}: corrupt ({exc}); moved to {self.root / '_corrupt'}") from None

    def _quarantine(self, rid: str) -> None:
        dest = self.root / "_corrupt" / f"{rid}.{int(time.time())}.{uuid.uuid4().hex[:6]}"
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreWriteError(f"store: run {rid[:12]} is damaged and cannot be moved aside to {dest.parent} "
                                  f"({exc.strerror or exc})") from None
        with contextlib.suppress(OSError):
            os.rename(self.path(rid), dest)

    # -- writing -------------------------------------------------------------------------------
    def save(self, result: RunResult) -> bool:
        """Store a finished run atomically. Returns False if the run was already stored. Raises
        :class:`StoreWriteError` (the run, the path, the cause) if it cannot be written; nothing is left."""
        cfg = result.config
        rid = cfg.run_id
        if rid in self:
            return False
        self.ensure_writable()
        tmp = self.root / "_tmp" / f"{rid}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        try:
            tmp.mkdir(parents=True)
            return self._write(result, tmp)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, StoreWriteError):
                raise
            raise StoreWriteError(f"store: cannot write run {rid[:12]} to {exc.filename or tmp} "
                                  f"({exc.strerror or exc}); nothing of it was kept") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _write(self, result: RunResult, tmp: Path) -> bool:
        cfg = result.config
        rid = cfg.run_id
        np.savez(tmp / "arrays.npz", **result.arrays())
        doc = {"schema_version": SCHEMA_VERSION, "run_id": rid, "config": cfg.to_dict()}
        (tmp / "config.json").write_text(json.dumps(doc, indent=1, sort_keys=True))
        meta = {
            "run_id": rid, "schema_version": SCHEMA_VERSION, "supdyn": __version__,
            "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "host": socket.gethostname(), "device": result.device, "engine": result.engine,
            "wall_time": result.wall_time,
            "diverged": result.diverged, "diverged_step": result.diverged_step,
            "diverged_t": result.diverged_t, "created": time.time(),
            "arrays_sha256": _sha256(tmp / "arrays.npz"),
        }
        meta["meta_sha256"] = meta_checksum(meta)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        try:
            os.rename(tmp, self.path(rid))
        except OSError:
            if not self.path(rid).is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another writer was first: keep theirs
            return False
        self._clear_failed(rid)
        return True

    def clean_tmp(self, max_age: float = STALE_TMP_SECONDS) -> int:
        """Remove temporary directories older than ``max_age`` seconds (killed writers)."""
        tmp, n, now = self.root / "_tmp", 0, time.time()
        for d in tmp.iterdir() if tmp.is_dir() else ():
            with contextlib.suppress(OSError):
                if now - d.stat().st_mtime > max_age:
                    shutil.rmtree(d) if d.is_dir() else d.unlink()
                    n += 1
        return n

    # -- failures ------------------------------------------------------------------------------
    def mark_failed(self, cfg: RunConfig, error: str) -> dict[str, Any]:
        """Record that a run raised; returns the failure record (attempts counted). A record that cannot
        be written raises :class:`StoreWriteError` and leaves no file behind."""
        self.ensure_writable()
        path = self.root / "_failed" / f"{cfg.run_id}.json"
        rec = self.failure(cfg.run_id) or {"run_id": cfg.run_id, "config": cfg.to_dict(), "attempts": 0}
        rec["attempts"] += 1
        rec["error"] = error
        rec["time"] = time.time()
        tmp = path.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
        try:
            path.parent.mkdir(exist_ok=True)
            tmp.write_text(json.dumps(rec, indent=1))
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreWriteError(f"store: cannot record the failure of run {cfg.run_id[:12]} in {path.parent} "
                                  f"({exc.strerror or exc})") from None
        return rec

    def failure(self, run_id: str) -> dict[str, Any] | None:
        path = self.root / "_failed" / f"{run_id}.json"
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return rec if isinstance(rec, dict) and isinstance(rec.get("attempts"), int) else None

    def _clear_failed(self, run_id: str) -> None:
        with contextlib.suppress(OSError):
            (self.root / "_failed" / f"{run_id}.json").unlink()

    # -- what is stored ------------------------------------------------------------------------
    def missing(self, configs: Iterable[RunConfig]) -> list[RunConfig]:
        """Configs not stored intact (each once, in order): damaged runs are moved aside (:meth:`verify`)."""
        seen: set[str] = set()
        return [c for c in configs if not (c.run_id in seen or seen.add(c.run_id) or self.verify(c))]

    def table(self, problems: list[str] | None = None):
        """One row per intact stored run: flattened config columns and summary figures (pandas).
        Damaged runs are moved aside (:meth:`load`); their one-line reasons are appended to ``problems``."""
        import pandas as pd

        rows = []
        for rid in self.run_ids():
            try:
                run = self.load(rid)
            except (CorruptRunError, OtherSchemaError) as exc:
                if problems is not None and isinstance(exc, CorruptRunError):
                    problems.append(exc.args[0])
                continue
            row = run.summary()
            for sec, vals in run.config.to_dict().items():
                for k, v in (vals.items() if isinstance(vals, dict) else [(sec, vals)]):
                    row[k] = tuple(v) if isinstance(v, list) else v
            row["variant"] = run.config.variant
            rows.append(row)
        return pd.DataFrame(rows)


def pack(configs: Sequence[RunConfig], *, max_models: int = 16) -> list[list[RunConfig]]:
    """Group configs that can train together (same :func:`group_key`), at most ``max_models`` each.

    Runs of a group also share their number of steps (round(t_max / lr)): a batched task runs until
    its longest member is done and keeps computing the finished ones (at zero learning rate), so mixing
    10k- and 20k-step runs would waste a third of the work and hold back the short runs' results."""
    groups: dict[tuple, list[RunConfig]] = {}
    for c in configs:
        groups.setdefault((group_key(c), run_steps(c)), []).append(c)
    return [g[i:i + max_models] for g in groups.values() for i in range(0, len(g), max_models)]



