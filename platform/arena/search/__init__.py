"""Searches on Ray Tune: compound scaling (EfficientNet) and MnasNet-style NAS around one shared core.

- `core`: what every search shares: the spec's common parts (`core.spec`), pricing, the Tune trials,
  the result's common pieces, and `core.skeleton.run_search`, the one sequence every search runs
  (check, price, connect, open the parent run, train the trials, pick the best, log, close).
- `scaling`: compound scaling: its spec, the pure math (`compound`), its plan for `run_search`
  (`plan`, the `arena search scaling` command's function) and its result (`report`).
- `nas`: MnasNet's factorised space (`space`), its reward (`reward`), the Tune Searcher that
  prices each proposal before it trains (`searcher`), its spec, plan and result.

`scaling` and `nas` never import each other; both import `core`. The models a search persists
(`scaled:<id>`, `nas:<id>`) live with the zoo (`arena.models.scaled`, `arena.models.nas`), so
workers and later commands can build them without importing Ray Tune.
"""
