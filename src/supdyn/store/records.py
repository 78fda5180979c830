"""What a stored run is read back as (:class:`StoredRun`), and the checks of its meta.json that need no
files: its own checksum (:func:`meta_checksum`) and the types of the fields that are read."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from supdyn.config import RunConfig


def meta_checksum(meta: dict[str, Any]) -> str:
    """sha256 of meta.json's fields other than ``meta_sha256`` (canonical JSON): an edited field shows."""
    doc = {k: v for k, v in meta.items() if k != "meta_sha256"}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


_META_TYPES = {"diverged": (bool,), "diverged_step": (int,), "diverged_t": (int, float), "wall_time": (int, float),
               "created": (int, float)}
"""Types of the meta.json fields that are read (null allowed): checked also in runs stored before meta_sha256."""


def check_meta_types(meta: Any) -> None:
    """ValueError unless meta.json is an object with the string ``arrays_sha256`` and its other read
    fields of their types (or null): checked also in runs stored before ``meta_sha256`` existed."""
    if not isinstance(meta, dict) or not isinstance(meta.get("arrays_sha256"), str):
        raise ValueError("meta.json is not an object with the string arrays_sha256")
    for key, kinds in _META_TYPES.items():
        v = meta.get(key)
        if v is not None and (not isinstance(v, kinds) or (bool not in kinds and isinstance(v, bool))):
            raise ValueError(f"meta.json: {key} = {v!r} is not of type {' or '.join(k.__name__ for k in kinds)}")


@dataclass
class StoredRun:
    """A run read back from the store. ``arrays`` holds every saved array by name."""

    run_id: str
    config: RunConfig
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]

    t = property(lambda self: self.arrays["t"], doc="(n_eval,) times t = lr × steps")
    loss = property(lambda self: self.arrays["loss"], doc="(n_eval,) loss at t")
    diverged = property(lambda self: bool(self.meta.get("diverged", False)), doc="whether the run diverged")

    @property
    def snapshot_t(self) -> np.ndarray:
        """Snapshot times (t = lr × steps), (n_snap,)."""
        return self.arrays.get("snapshot_t", np.zeros(0))

    @property
    def snapshots(self) -> dict[str, np.ndarray]:
        """Snapshots by name (``B``, ``enc``, ``dec``), each (n_snap, ...)."""
        return {k[len("snapshot_"):]: v for k, v in self.arrays.items()
                if k.startswith("snapshot_") and k != "snapshot_t"}

    def masked(self) -> "StoredRun":
        """A copy whose measured arrays (loss curves, snapshots; all but ``t`` and ``steps``) are NaN:
        how a diverged run enters an analysis, so that every fit leaves it out."""
        arrays = {k: (v if k in ("t", "steps") or not np.issubdtype(v.dtype, np.floating)
                      else np.full_like(v, np.nan)) for k, v in self.arrays.items()}
        return StoredRun(self.run_id, self.config, arrays, dict(self.meta, masked=True))

    def summary(self) -> dict[str, Any]:
        finite = self.loss[np.isfinite(self.loss)]
        return {"run_id": self.run_id, "final_t": float(self.t[-1]),
                "final_loss": float(finite[-1]) if finite.size else float("nan"),
                "diverged": self.diverged, "diverged_t": self.meta.get("diverged_t"),
                "wall_time": self.meta.get("wall_time"), "device": self.meta.get("device")}
