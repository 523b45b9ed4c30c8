"""`python -m sentinel.cli`: the same as the `sentinel` command."""

from sentinel.cli.main import main

raise SystemExit(main())
