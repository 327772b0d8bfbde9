"""JSON as arena prints and serves it: strict, so every JSON parser reads it.

Python's `json.dumps` writes a float that is not finite as `NaN` or `Infinity`, which JSON does not
have (JavaScript's JSON.parse, jq and most other parsers refuse the whole document). A number that
is not finite carries no figure anyway: it is written as null.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(payload: Any) -> Any:
    """`payload` with every float that is not finite replaced by None, in dicts, lists and tuples at any depth."""
    if isinstance(payload, float):
        return payload if math.isfinite(payload) else None
    if isinstance(payload, dict):
        return {key: finite(value) for key, value in payload.items()}
    if isinstance(payload, (list, tuple)):
        return [finite(value) for value in payload]
    return payload


def dumps(payload: Any, **options: Any) -> str:
    """`json.dumps` of `payload` with non-finite floats as null; raises ValueError rather than write NaN."""
    return json.dumps(finite(payload), allow_nan=False, **options)
