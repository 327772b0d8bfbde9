"""Load a trained run for evaluation: its checkpoint from MLflow, checked against the model it names.

Everything here only reads: a run that cannot be evaluated (unknown id, no checkpoint, weights that
do not fit their model) raises ArenaError before any evaluation run is recorded.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from torch import Tensor, nn

from arena import models
from arena.errors import ArenaError, SpecError
from arena.settings import Settings
from arena.spec import JobSpec, parse_spec
from arena.tracking import run_log
from arena.training.checkpoint import CHECKPOINT_FILE, Checkpoint, NotACheckpoint
from arena.training.grown_models import make_resolvable

CHECKPOINT_ARTIFACT = f"checkpoint/{CHECKPOINT_FILE}"
MISMATCHES_NAMED = 3


@dataclass(frozen=True)
class ModelRecipe:
    """What any process needs to rebuild a checkpoint's architecture (small and picklable)."""

    model_name: str
    num_classes: int
    drop_rate: float | None = None
    drop_path_rate: float | None = None
    home: Path | None = None
    """The arena home a saved (`scaled:`, `nas:`) model is read from."""

    def build(self) -> nn.Module:
        """The architecture with fresh weights."""
        return models.build(
            self.model_name, num_classes=self.num_classes,
            drop_rate=self.drop_rate, drop_path_rate=self.drop_path_rate, home=self.home,
        )


@dataclass(frozen=True)
class TrainedRun:
    """A finished training run, ready to evaluate: its spec, its weights and where it lives in MLflow."""

    run_id: str
    run_name: str
    experiment_id: str
    tags: dict[str, str]
    params: dict[str, str]
    spec: JobSpec
    recipe: ModelRecipe
    weights: dict[str, Tensor]
    """The weights training evaluated with: the EMA when the recipe kept one, else the model's."""
    model: nn.Module
    """The architecture with those weights, in eval mode."""
    epochs: int
    class_names: list[str]
    """Class folder names in class-index order, as the model was trained."""

    @property
    def image_size(self) -> int:
        """The side the model was trained and evaluated at."""
        return self.spec.data.image_size or models.get_model_info(self.spec.model, self.recipe.home).input.resolution


def load_trained_run(run_id: str, settings: Settings) -> TrainedRun:
    """Fetch a run's checkpoint from MLflow and check it fits its model; ArenaError when it cannot."""
    summary = run_log.get_run_summary(settings.tracking_uri, run_id)
    checkpoint = _download_checkpoint(run_id, settings)
    model_name = checkpoint.model_name
    tagged = summary["tags"].get("arena.model")
    if tagged and tagged != model_name:
        raise ArenaError(
            f"run {run_id}: its checkpoint holds model {model_name!r} but the run is tagged "
            f"arena.model={tagged!r}; the checkpoint does not belong to this run"
        )
    spec = _spec_of(run_id, checkpoint.spec_yaml)
    if spec.model != model_name:
        raise ArenaError(f"run {run_id}: its checkpoint holds model {model_name!r} but its spec names {spec.model!r}")
    make_resolvable([model_name], tracking_uri=settings.tracking_uri, home=settings.home)  # a grown model: from MLflow
    recipe = ModelRecipe(model_name, int(checkpoint.num_classes), spec.train.drop_rate, spec.train.drop_path_rate,
                         settings.home)
    weights = checkpoint.eval_weights
    model = load_weights(run_id, recipe, weights)
    class_names = [str(name) for name in checkpoint.class_names]
    if len(class_names) != recipe.num_classes:
        raise ArenaError(
            f"run {run_id}: its checkpoint names {len(class_names)} classes but the model has {recipe.num_classes}"
        )
    return TrainedRun(
        run_id=run_id, run_name=summary["run_name"] or run_id, experiment_id=summary["experiment_id"],
        tags=summary["tags"], params=summary["params"], spec=spec, recipe=recipe, weights=weights, model=model,
        epochs=int(checkpoint.epoch), class_names=class_names,
    )


def _download_checkpoint(run_id: str, settings: Settings) -> Checkpoint:
    with tempfile.TemporaryDirectory(prefix="arena-eval-") as folder:
        try:
            path = run_log.download_artifacts(settings.tracking_uri, run_id, CHECKPOINT_ARTIFACT, Path(folder))
        except ArenaError:
            raise ArenaError(
                f"run {run_id} has no checkpoint artifact ({CHECKPOINT_ARTIFACT}); only a training run "
                "that finished an epoch can be evaluated"
            ) from None
        try:
            return Checkpoint.load(path)
        except NotACheckpoint as error:
            raise ArenaError(
                f"run {run_id}: its checkpoint is not an arena checkpoint (missing {', '.join(error.missing)})"
            ) from None


def _spec_of(run_id: str, spec_yaml: Any) -> JobSpec:
    try:
        tree = yaml.safe_load(str(spec_yaml))
    except yaml.YAMLError as error:
        raise ArenaError(f"run {run_id}: the spec in its checkpoint is not valid YAML: {error}") from None
    try:
        return parse_spec(tree, source=f"the spec in run {run_id}'s checkpoint")
    except SpecError as error:
        raise ArenaError(str(error)) from None


def load_weights(run_id: str, recipe: ModelRecipe, weights: dict[str, Tensor]) -> nn.Module:
    """The recipe's model with `weights`, in eval mode; ArenaError naming the keys that do not fit."""
    model = recipe.build()
    expected = model.state_dict()
    missing = [key for key in expected if key not in weights]
    unexpected = [key for key in weights if key not in expected]
    misshapen = [
        f"{key} {tuple(weights[key].shape)} vs {tuple(value.shape)}"
        for key, value in expected.items()
        if key in weights and tuple(weights[key].shape) != tuple(value.shape)
    ]
    problems = [
        f"{len(found)} {what} ({', '.join(found[:MISMATCHES_NAMED])}{', ...' if len(found) > MISMATCHES_NAMED else ''})"
        for what, found in (("missing", missing), ("unexpected", unexpected), ("of another shape", misshapen))
        if found
    ]
    if problems:
        raise ArenaError(
            f"run {run_id}: its checkpoint's weights do not fit model {recipe.model_name!r} with "
            f"{recipe.num_classes} classes: " + "; ".join(problems)
        )
    model.load_state_dict(weights)
    return model.eval()
