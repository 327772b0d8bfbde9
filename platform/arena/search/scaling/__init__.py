"""`arena search scaling`: EfficientNet's compound scaling (Tan & Le, 2019) on the shared search core.

`spec` (the search spec), `compound` (the pure alpha/beta/gamma/phi math), `plan` (the candidates,
the metric and the result `core.skeleton.run_search` needs; the family grown from the winner),
`report` (the result and its tables).
"""
