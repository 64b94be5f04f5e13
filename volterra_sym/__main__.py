"""``python -m volterra_sym``: the volterra-sym command line."""

from .cli import main

raise SystemExit(main())
