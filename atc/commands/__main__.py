"""`python -m atc.commands`: the atc command line."""

from atc.commands import main

raise SystemExit(main())
