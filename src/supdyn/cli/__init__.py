"""Command line: ``supdyn <verb> ...``. Each verb lives in its own module of this package.

Every verb module defines ``add_parser(subparsers)`` and ``run(args) -> int``. Bad input ends with
a one-line error on stderr and exit code 2 (a traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from supdyn.config import ConfigError

# verb modules, in the order shown by --help
COMMANDS = ["train", "runs", "sweep", "plot", "reproduce", "theory", "fit"]


class UsageError(Exception):
    """A user error detected by the CLI itself (exit code 2, one line)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="supdyn", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"supdyn.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe raises here, inside the handler below, not at exit
        return code
    except (ConfigError, UsageError, FileNotFoundError, KeyError, ValueError) as exc:
        if args.debug:
            raise
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
