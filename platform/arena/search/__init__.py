"""Searches on Ray Tune: compound scaling (EfficientNet) now, MnasNet-style NAS on the same machinery.

- `scaling`: the pure compound-scaling math (alpha, beta, gamma, phi and the rounding rules).
- `pricing`: build and count every candidate, drop those over the budget, before anything trains.
- `trials`: run priced candidates as Tune trials through the one training path, nested in MLflow.
- `scaling_search`: the `arena search scaling` command's function and its result.

The `scaled:<id>` models a search persists live with the zoo (`arena.models.scaled`), so workers and
later commands can build them without importing Ray Tune.
"""
