"""`python -m clusterdash` is the same as the `clusterdash` command."""

from clusterdash.cli import main

main()
