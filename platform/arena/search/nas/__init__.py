"""`arena search nas`: MnasNet-style architecture search (Tan et al., 2019) on the shared search core.

`spec` (the search spec), `space` (the factorised space: pure sampling and mutation), `reward`
(ACC x (cost / T)^w and the costs it weighs), `searcher` (the Tune Searcher that prices each
proposal first), `plan` (what `core.skeleton.run_search` needs), `report` (the result and its tables).
"""
