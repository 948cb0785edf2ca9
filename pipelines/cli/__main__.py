"""`python -m pipelines.cli`: the lprx command line."""

from pipelines.cli import main

main()
