#!/usr/bin/python3
"""fwnet command line (see harness/README.md)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fwnet.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
