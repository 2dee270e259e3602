"""Module entry point."""

from rainbow.localk8s.cli import main

raise SystemExit(main())
