"""What every search shares: the spec's common parts, pricing, the Tune trials and the one search sequence.

- `spec`: `SearchSpec` (name, experiment, base job, budget, tune) and its parsing.
- `pricing`: build and count every candidate, drop those over the budget, before anything trains.
- `trials`: run candidates as Tune trials through the one training path, nested in MLflow.
- `skeleton`: `run_search`, the sequence every search follows, and the `SearchPlan` a search supplies.
- `report`: the pieces every result prints (the held-out note, status counts).
"""
