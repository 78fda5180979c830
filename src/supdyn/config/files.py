"""Reading configurations from TOML files, and expanding grid specs into runs. Reads only the file
it is given; writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from supdyn.config.checks import ConfigError, _fail
from supdyn.config.run import RunConfig, _unknown, from_dict


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse any TOML file into a dict (used for experiment and sweep specs)."""
    try:
        import tomllib  # Python >= 3.11
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        return tomllib.loads(data.removeprefix(b"\xef\xbb\xbf").decode())  # (an editor's byte-order mark)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); allowed: a TOML file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML (byte {exc.object[exc.start]:#04x} at offset {exc.start} is not "
                          "UTF-8 text); allowed: a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror}); allowed: a readable TOML file") from None


def load_toml(path: str | Path) -> RunConfig:
    """Load a single-run TOML file (sections [data], [model], [train] and a top-level seed)."""
    return from_dict(read_toml(path))


def load_spec(path: str | Path) -> tuple[list[RunConfig], dict[str, Any] | None]:
    """The runs of a grid spec file (:func:`expand_grid`) and its optional ``[slurm]`` table (SLURM job
    options, checked by ``supdyn.sweep.SlurmOptions``), as ``supdyn sweep`` and ``supdyn plot`` read it."""
    spec = read_toml(path)
    slurm = spec.pop("slurm", None)
    if slurm is not None and not isinstance(slurm, dict):
        _fail("slurm", slurm, "a [slurm] table")
    return expand_grid(spec, where=str(path)), slurm


MAX_GRID_RUNS = 10**6
"""Most runs one spec may expand to: its configs are built (and checked) at once, before any work."""


def expand_grid(spec: dict[str, Any], *, where: str = "spec") -> list[RunConfig]:
    """Configs of a grid spec: ``{"base": {...}, "grid": {field: [values...]}}``.

    ``base`` holds fixed fields (flat names or [data]/[model]/[train] sections); ``grid`` maps field
    names (flat, e.g. ``a``, ``d_hidden``, ``seed``) to lists, expanded as a Cartesian product in the
    order written. ``grid`` may also be a list of such tables (``[[grid]]`` in TOML): their
    expansions are concatenated, duplicates removed. Unknown keys anywhere raise ConfigError. Each
    point is validated as a whole (base and grid values together), never the base alone: a base
    ``n_features = 128`` with a grid over ``d_hidden`` need not be a valid run by itself. A spec with
    neither table (an empty file), ``grid = []`` or more than :data:`MAX_GRID_RUNS` runs is an error
    (``where`` names the spec in it).
    """
    import itertools
    import math

    for key in spec:
        if key not in ("base", "grid", "name", "description"):
            _unknown(key, ["base", "grid", "name", "description"], "")
    if "base" not in spec and "grid" not in spec:  # one default run (N = 1024, ...) is not what was meant
        raise ConfigError(f"{where}: no [base] or [grid] table; allowed: a grid spec with a [base] table and/or "
                          "[grid] tables of lists (see `supdyn sweep --help`)")
    base = spec.get("base", {})
    if not isinstance(base, dict):
        _fail("base", base, "a [base] table")
    grids = spec.get("grid", {})
    grids = grids if isinstance(grids, list) else [grids]
    if not grids:
        _fail("grid", grids, "a [grid] table or [[grid]] tables of lists")
    for grid in grids:
        if not isinstance(grid, dict):
            _fail("grid", grid, "a [grid] table or [[grid]] tables of lists")
        for name, vals in grid.items():
            if not isinstance(vals, list) or not vals:
                _fail(f"grid.{name}", vals, "a non-empty list of values")
    sizes = [[len(v) for v in grid.values()] for grid in grids]
    total = sum(math.prod(s) for s in sizes)
    if total > MAX_GRID_RUNS:
        shape = " + ".join(" × ".join(map(str, s)) or "1" for s in sizes)
        raise ConfigError(f"grid: got {total} runs ({shape}); allowed: at most {MAX_GRID_RUNS} runs per spec "
                          "(split it into several specs)")
    out: list[RunConfig] = []
    seen: set[str] = set()
    for grid in grids:
        names = list(grid)
        values = [grid[name] for name in names]
        for combo in itertools.product(*values):
            cfg = from_dict({**base, **dict(zip(names, combo))})
            if cfg.run_id not in seen:
                seen.add(cfg.run_id)
                out.append(cfg)
    return out
