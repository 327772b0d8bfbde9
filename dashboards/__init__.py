"""Package data, not code: the leaderboard dashboard's page template, CSS and JavaScript (see arena.dashboard)."""
