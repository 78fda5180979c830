"""``python -m supdyn ...`` runs the ``supdyn`` command (useful where the package is on PYTHONPATH only)."""

import sys

from supdyn.cli import main

if __name__ == "__main__":
    sys.exit(main())
