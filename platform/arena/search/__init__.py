"""Searches on Ray Tune: compound scaling (EfficientNet) and MnasNet-style NAS on the same machinery.

- `scaling`: the pure compound-scaling math (alpha, beta, gamma, phi and the rounding rules).
- `pricing`: build and count every candidate, drop those over the budget, before anything trains.
- `trials`: run priced candidates as Tune trials through the one training path, nested in MLflow,
  ranked per epoch by the search's metric (val error for scaling, MnasNet's reward for NAS).
- `scaling_search`: the `arena search scaling` command's function and its result.
- `nas_space`, `nas_reward`, `nas_spec`: MnasNet's factorised space (pure sampling and mutation),
  its reward ACC x (cost / T)^w, and the NAS spec.
- `nas_searcher`, `nas_search`, `nas_report`: the Tune Searcher that prices each proposal before
  it trains, and the `arena search nas` command's function and its result.

The `scaled:<id>` models a search persists live with the zoo (`arena.models.scaled`), so workers and
later commands can build them without importing Ray Tune.
"""
