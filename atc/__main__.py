"""`python -m atc`: the command line."""

import sys

from atc.commands import main

sys.exit(main())
