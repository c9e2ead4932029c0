"""``python -m tars`` runs the command line."""

from tars.cli import main

raise SystemExit(main())
