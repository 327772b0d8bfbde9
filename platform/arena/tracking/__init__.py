"""MLflow: the only room that imports mlflow."""

import importlib
import logging
import os

# MLflow 3 sends usage telemetry unless told not to; arena keeps it off unless the user opts in. Set here,
# once: every module of this package imports mlflow after this file has run.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

importlib.import_module("mlflow")  # configures its loggers on import; quiet them after

# MLflow's and Alembic's INFO lines (creating tables, migrations) are not the user's business.
for _name in ("mlflow", "alembic"):
    logging.getLogger(_name).setLevel(logging.WARNING)
