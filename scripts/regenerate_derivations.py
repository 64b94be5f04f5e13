#!/usr/bin/env python
"""Regenerate derivations/ from examples/*.toml (same as ``python -m volterra_sym.gallery``)."""

import sys

from volterra_sym.gallery import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
