"""Charts drawn as SVG from plain numbers: the dashboard page's (`svg.py`) and the search runs' chart files (`searches.py`)."""
