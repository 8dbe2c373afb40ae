"""`python -m vpnspot_router ...` is the `vpnspot` command (cli.py)."""

import sys

from vpnspot_router.cli import main

sys.exit(main())
