"""`python -m arena.cli ...`: what a job submitted to a cluster runs."""

from arena.cli import main

main()
