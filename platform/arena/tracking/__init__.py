"""MLflow: the only room that imports mlflow."""
