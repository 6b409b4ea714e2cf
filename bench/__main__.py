"""``python -m bench`` (``make bench``): see bench/cli.py."""

from bench.cli import main

raise SystemExit(main())
