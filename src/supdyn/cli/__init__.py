"""Command line: ``supdyn <verb> ...``. Each verb lives in its own module of this package.

Every verb module defines ``add_parser(subparsers)`` and ``run(args) -> int``. Bad input ends with
a one-line error on stderr and exit code 2 (a traceback only with ``--debug``); so does a run that
cannot fit (``--max-memory``, ``--max-steps``: :mod:`supdyn.config.resources`). An I/O failure while
running is one line naming the path and its cause, exit code 1.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import errno
import importlib
import io
import os
import re
import sys
from typing import Any, Iterator, NoReturn

from supdyn import __version__
from supdyn.config import ConfigError, resources

# verb modules, in the order shown by --help
COMMANDS = ["train", "runs", "sweep", "plot", "reproduce", "theory", "fit"]
TRAINING = ("train", "sweep", "reproduce")  # verbs that train here: one torch thread unless OMP_NUM_THREADS


class UsageError(Exception):
    """A user error detected by the CLI itself (exit code 2, one line)."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors in the catalogue's form (``<field>: got ...; allowed: ...``), under
    the name of the verb that failed, without the usage block (``--help`` shows it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_reword(message, self)}\n")


def _reword(message: str, parser: argparse.ArgumentParser) -> str:
    m = re.match(r"argument (\S+?)(?:/\S+)?: invalid choice: '?([^']*?)'? \(choose from (.*)\)$", message)
    if m:
        name, got, choices = m.groups()
        options = [c.strip(" '\"") for c in choices.split(",")]
        hint = difflib.get_close_matches(got, options, n=1)
        return (f"{name}: got {got!r}; allowed: one of {', '.join(options)}"
                + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    m = re.match(r"argument (\S+?)(?:/\S+)?: invalid (\w+) value: (.*)$", message)
    if m:
        name, kind, got = m.groups()
        return f"{name}: got {got}; allowed: {'an integer' if kind == 'int' else 'a number'}"
    m = re.match(r"unrecognized arguments: (.*)$", message)
    if m:
        first = m.group(1).split()[0]
        options = [o for a in parser._actions for o in a.option_strings]
        hint = difflib.get_close_matches(first.split("=")[0], options, n=1) if first.startswith("-") else []
        what = "unknown option" if first.startswith("-") else "unexpected argument"
        return (f"{first}: {what}" + (f"; did you mean {hint[0]}?" if hint else "")
                + f" (allowed: the options of `{parser.prog} --help`)")
    m = re.match(r"the following arguments are required: (.*)$", message)
    if m:
        return f"{m.group(1)}: none given; allowed: see `{parser.prog} --help`"
    return message[len("argument "):] if message.startswith("argument ") else message


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="supdyn", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.add_argument("--version", action="version", version=f"supdyn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"supdyn.cli.{name}").add_parser(sub)
    return parser


def add_limit_arguments(parser: argparse.ArgumentParser, *, steps: bool = True) -> None:
    """``--max-memory`` (and ``--max-steps``): the limits of :mod:`supdyn.config.resources`."""
    g = parser.add_argument_group("limits (a run that cannot fit is refused before it starts)")
    g.add_argument("--max-memory", dest="max_memory", metavar="SIZE",
                   help="memory a run (or task) may need, e.g. 64G; 'none': no check (default: the memory "
                        "available here, or the GPU's free memory with --device cuda)")
    if steps:
        g.add_argument("--max-steps", dest="max_steps", metavar="N",
                       help=f"SGD steps a run may take (t_max / lr; default {resources.MAX_STEPS:.0e}); 'none': no check")


def _limits(args: argparse.Namespace) -> resources.Limits | None:
    if not hasattr(args, "max_memory"):
        return None
    memory = "auto" if args.max_memory is None else resources.parse_size(args.max_memory)
    steps: Any = getattr(args, "max_steps", None)
    if steps is None:
        steps = resources.MAX_STEPS
    elif str(steps).strip().lower() in ("none", "off"):
        steps = None
    else:
        try:
            steps = int(float(steps))
            if steps < 1:
                raise ValueError
        except (ValueError, OverflowError):
            raise ConfigError(f"--max-steps: got {args.max_steps!r}; allowed: an integer >= 1, or none") from None
    # runs that train elsewhere (a cluster) or not at all (plot): only building their configs is checked here
    here = not (getattr(args, "scheduler", None) or getattr(args, "slurm", False) or args.command == "plot")
    return resources.Limits(memory, steps, getattr(args, "device", "cpu") or "cpu", local=here)


@contextlib.contextmanager
def _threads(command: str) -> Iterator[None]:
    """One torch thread for the verbs that train, unless OMP_NUM_THREADS chooses: on a loaded or shared
    machine two threads per process were 46x slower than one (threads wait on each other), and on an
    idle one a single process of these models gained little from a second. Restored afterwards."""
    chosen = os.environ.get("OMP_NUM_THREADS", "").strip()
    if command not in TRAINING or (chosen.isdigit() and int(chosen) >= 1):
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def writable_dir(path: str | os.PathLike, option: str) -> None:
    """Create the directory ``path`` if needed; UsageError (one line) unless files can be written in it.
    Checked before any work, so nothing is computed for an output that cannot be written."""
    import uuid
    from pathlib import Path

    probe = Path(path) / f".supdyn-probe-{uuid.uuid4().hex}"
    if Path(path).exists() and not Path(path).is_dir():
        raise UsageError(f"{option}: cannot write to {path} (not a directory); allowed: a writable directory")
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"{option}: cannot write to {path} ({exc.strerror or exc}); allowed: a writable "
                         "directory") from None


def io_line(exc: OSError) -> str:
    """One line naming the path and the cause of an I/O failure."""
    if exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__


class _NamedStdout(io.FileIO):
    """File descriptor 1 whose write errors name it (``stdout: No space left on device`` for ``> /dev/full``)."""

    def write(self, data):  # type: ignore[override]
        try:
            return super().write(data)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, "stdout") from None


class _ClosedStdout(io.TextIOBase):
    """Stdout when file descriptor 1 is closed (``>&-``; Python sets ``sys.stdout = None``)."""

    def write(self, data):  # type: ignore[override]
        raise OSError(errno.EBADF, os.strerror(errno.EBADF), "stdout")

    def flush(self) -> None:  # nothing is buffered: nothing fails at exit
        pass


def _name_stdout() -> None:
    """Make an I/O error of stdout one line naming it, like every other path (the command-line entry only)."""
    old = sys.stdout
    if old is None:
        sys.stdout = _ClosedStdout()
        return
    try:
        raw = _NamedStdout(old.fileno(), "w", closefd=False)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):  # no real stdout: leave it
        return
    old.flush()
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(raw), encoding=old.encoding, errors=old.errors,
                                  line_buffering=old.line_buffering)


def _out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and any(
        s in str(exc) for s in ("can't allocate memory", "out of memory", "CUDA out of memory")))


def _drop_invalid_omp_num_threads(argv: list[str]) -> None:
    """An OMP_NUM_THREADS that is no thread count (``0``, ``abc``) is no choice (see :func:`_threads`):
    it is removed, with one line, before torch loads OpenMP (which would print its own two lines on
    stderr in this process and in every worker it starts)."""
    value = os.environ.get("OMP_NUM_THREADS")
    if value is None or (re.fullmatch(r"\s*\d+(\s*,\s*\d+)*\s*", value)
                         and all(int(v) >= 1 for v in value.split(","))):
        return
    del os.environ["OMP_NUM_THREADS"]
    verb = next((a for a in argv if a in COMMANDS), None)
    print(f"supdyn{' ' + verb if verb else ''}: warning: OMP_NUM_THREADS: got {value!r}; allowed: an integer >= 1 "
          "(ignored)", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    _drop_invalid_omp_num_threads(sys.argv[1:] if argv is None else argv)
    if argv is None:
        _name_stdout()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # reported by the verb's parser: its name, its options
        verbs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        verbs.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        lim = _limits(args)
        with resources.limits(lim) if lim else contextlib.nullcontext(), _threads(args.command):
            code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe raises here, inside the handler below, not at exit
        return code
    except (ConfigError, UsageError, FileNotFoundError, KeyError, ValueError) as exc:
        if args.debug:
            raise
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        if isinstance(exc, FileNotFoundError) and exc.filename is not None:
            msg = io_line(exc)
        print(f"supdyn {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`supdyn runs | head`): stop quietly, like other tools
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        except (OSError, ValueError, AttributeError):
            pass
        return 141
    except OSError as exc:  # disk full, permissions, a vanished directory: one line, the path and cause
        if args.debug:
            raise
        if exc.filename == "stdout":  # nothing more can be written there: no second error at exit
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(f"supdyn {args.command}: error: {io_line(exc)}", file=sys.stderr)
        return 1
    except (MemoryError, RuntimeError) as exc:
        if args.debug or not _out_of_memory(exc):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"supdyn {args.command}: error: memory: ran out while running ({first}); allowed: smaller sizes "
              "(the estimate is checked against --max-memory before a run starts)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
