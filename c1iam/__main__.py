"""`python -m c1iam`: the `c1iam` command."""

from c1iam.cli import main

main()
