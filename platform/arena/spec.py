"""The job spec: typed, frozen, validated; YAML files only override these defaults.

A spec is loaded with `load_spec(path, overrides)`. Every problem (unknown key, bad value, missing
field) is collected and raised together as one `SpecError` naming each field path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from arena.errors import SpecError
from arena.spec_yaml import MAX_SPEC_BYTES, parse_yaml


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AugmentSpec(_Frozen):
    """Training-time augmentation; evaluation always resizes and centre-crops."""

    random_resized_crop: bool = True
    """Random-resized crop as in GoogLeNet/ResNet; off for tiny images such as digits."""
    crop_scale_min: float = Field(0.08, gt=0.0, le=1.0)
    """Smallest crop area fraction (the Inception recipe's 8%)."""
    hflip: bool = True
    """Random horizontal flip; off for digits, whose mirror images are other shapes."""
    auto_augment: Literal["none", "autoaugment", "randaugment", "trivialaugment"] = "none"
    """Learned augmentation policies from torchvision (EfficientNet used AutoAugment)."""
    mixup_alpha: float = Field(0.0, ge=0.0)
    """Beta(alpha, alpha) mixup of batches; 0 turns it off."""
    cutmix_alpha: float = Field(0.0, ge=0.0)
    """Beta(alpha, alpha) cutmix of batches; 0 turns it off."""
    random_erasing: float = Field(0.0, ge=0.0, le=1.0)
    """Probability of erasing a random rectangle of each training image (DeiT: 0.25); 0 turns it off."""


class DataSpec(_Frozen):
    """Which images to train on and how large."""

    dataset: Literal["imagenet", "imagefolder", "digits", "synthetic"]
    """imagenet: a folder `arena data prepare imagenet` wrote, read through its index (runs are tagged
    imagenet-1k only when it holds all of ILSVRC-2012); imagefolder: any train/ and val/ class folders."""
    root: Path | None = None
    """imagenet and imagefolder: a folder holding train/ and val/ with one subfolder per class."""
    image_size: int | None = Field(None, ge=8, le=1024)
    """Training resolution; the model's native resolution when not given."""
    num_classes: int = Field(1000, ge=2)
    """synthetic only: number of classes (the other datasets take it from their folders)."""
    train_size: int = Field(1024, ge=1)
    """synthetic only: images per epoch."""
    val_size: int = Field(256, ge=1)
    """synthetic only: validation images."""
    loader_workers: int = Field(0, ge=0)
    """DataLoader worker processes per training worker; 0 decodes in the training process."""
    max_bad_fraction: float = Field(0.01, ge=0.0, le=1.0)
    """Unreadable images are skipped with a warning; above this fraction the job fails."""
    holdout: int = Field(0, ge=0)
    """Images held out of train (a fixed random slice) to validate on instead of val/: searches rank
    trials on it so they never choose on val (MnasNet held out 50K train images); 0 uses val/."""
    repeated_augment: int = Field(1, ge=1)
    """Repeated augmentation (Hoffer et al. 2020, DeiT: 3): each image shows this many times an epoch,
    differently augmented on different workers, and an epoch keeps the dataset's length."""
    augment: AugmentSpec = AugmentSpec()

    @model_validator(mode="after")
    def _root_for_folders(self) -> DataSpec:
        if self.dataset in ("imagenet", "imagefolder") and self.root is None:
            raise ValueError(f"data.root is required for dataset '{self.dataset}'")
        return self


class OptimizerSpec(_Frozen):
    """The optimizer of the paper recipe."""

    name: Literal["sgd", "rmsprop", "adamw"] = "sgd"
    lr: float = Field(0.1, gt=0.0)
    """Learning rate at `reference_batch` (at train.batch_size when that is null)."""
    reference_batch: int | None = Field(None, ge=1)
    """The global batch the paper states `lr` for; the lr scales linearly to train.batch_size
    (Goyal et al. 2017), so a recipe run at another batch keeps its per-image step."""
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    nesterov: bool = False
    weight_decay: float = Field(1.0e-4, ge=0.0)
    weight_decay_on: Literal["all", "weights"] = "weights"
    """all: every parameter, as Caffe and Torch7 recipes did (AlexNet to ResNet); weights: not biases
    nor normalisation scales (EfficientNet, NFNet, DeiT)."""
    eps: float = Field(1.0e-3, gt=0.0)
    """rmsprop: TF-style epsilon inside the square root (EfficientNet used 1e-3)."""
    alpha: float = Field(0.9, gt=0.0, lt=1.0)
    """rmsprop: decay of the squared-gradient average (TF's rho)."""
    betas: tuple[float, float] = (0.9, 0.999)
    """adamw: moment decays."""


class ScheduleSpec(_Frozen):
    """Learning-rate schedule, stepped once per epoch after an optional linear warmup."""

    name: Literal["constant", "step", "multistep", "cosine", "exponential", "plateau"] = "cosine"
    step_size: int = Field(30, ge=1)
    """step: epochs between decays."""
    milestones: tuple[int, ...] = (30, 60, 80)
    """multistep: epochs at which the lr decays."""
    gamma: float = Field(0.1, gt=0.0, le=1.0)
    """step/multistep/exponential/plateau: decay factor."""
    patience: int = Field(5, ge=1)
    """plateau: epochs without a lower val top-1 error before the lr is multiplied by gamma (AlexNet
    and VGG divided it by 10 "when the validation error rate stopped improving")."""
    warmup_epochs: int = Field(0, ge=0)
    """Linear warmup from lr/10 over these epochs (Goyal et al. for large batches)."""
    min_lr: float = Field(0.0, ge=0.0)
    """cosine and plateau: the floor."""

    @model_validator(mode="after")
    def _no_warmup_before_plateau(self) -> ScheduleSpec:
        if self.name == "plateau" and self.warmup_epochs:
            raise ValueError("train.schedule.warmup_epochs: a plateau schedule takes no warmup")
        return self


class TrainSpec(_Frozen):
    """How long and how to optimise."""

    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    """Global batch, split evenly across workers."""
    optimizer: OptimizerSpec = OptimizerSpec()
    schedule: ScheduleSpec = ScheduleSpec()
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    """fp16 uses a GradScaler and needs a GPU; bf16 autocasts on CPU and GPU."""
    channels_last: bool = False
    """NHWC memory format: faster convolutions on tensor cores."""
    compile: bool = False
    """torch.compile the model before training."""
    accumulation_steps: int = Field(1, ge=1)
    """Micro-batches per optimizer step: each worker holds batch_size / (workers x this) images at once,
    so a paper's global batch fits on fewer or smaller GPUs; schedules count optimizer steps."""
    bn_momentum: float | None = Field(None, gt=0.0, lt=1.0)
    """BatchNorm running-statistics momentum in PyTorch's convention (TensorFlow's decay 0.99 is 0.01
    here); the architecture's own default when null."""
    clip_grad_norm: float | None = Field(None, gt=0.0)
    """Clip the global gradient norm to this (Inception-v3: 2.0); off when null."""
    agc_clip: float | None = Field(None, gt=0.0)
    """NFNet's adaptive gradient clipping lambda (0.01 for NFNet-F0 at batch 4096); off when null."""
    drop_rate: float | None = Field(None, ge=0.0, lt=1.0)
    """Classifier dropout; the architecture's own default when null."""
    drop_path_rate: float | None = Field(None, ge=0.0, lt=1.0)
    """Stochastic depth for models that support it; the architecture's own default when null."""
    ema_decay: float | None = Field(None, gt=0.0, lt=1.0)
    """Exponential moving average of weights (EfficientNet: 0.9999); evaluation uses the EMA."""
    max_steps_per_epoch: int | None = Field(None, ge=1)
    """Cut each epoch short (smoke tests, benchmarks)."""
    seed: int = 0

    def scaled_lr(self) -> float:
        """The lr at this global batch: optimizer.lr scaled linearly from its reference batch."""
        reference = self.optimizer.reference_batch or self.batch_size
        return self.optimizer.lr * self.batch_size / reference

    def micro_batch(self, workers: int) -> int:
        """Images one worker holds per forward pass: the global batch over workers and accumulation."""
        return max(1, self.batch_size // (workers * self.accumulation_steps))


class ResourcesSpec(_Frozen):
    """Where the job runs."""

    workers: int = Field(1, ge=1)
    """Ray Train workers (data-parallel ranks)."""
    cpus_per_worker: float | None = Field(None, gt=0)
    """CPUs reserved per worker (torch runs on the whole CPUs in it, at least one thread); all CPUs split evenly when null."""
    gpus_per_worker: int = Field(0, ge=0)
    max_failures: int = Field(0, ge=-1)
    """Worker or node failures survived by restarting from the last checkpoint (-1: unlimited)."""
    local_mode: bool = True
    """Let a single-worker job train in Ray Train's local mode (a reused lane actor, or the Tune trial's own
    actor) instead of a worker group of its own, whose start-up costs more than a search trial trains."""
    scale_up_timeout_s: float = Field(900.0, gt=0)
    """How long a job on an autoscaling cluster waits for nodes that can hold its workers (a cold GPU node takes minutes)."""


class JobSpec(_Frozen):
    """One training job: a model, its data, its recipe and its resources."""

    name: str = Field(min_length=1)
    """The MLflow run name and the leaderboard label."""
    model: str = Field(min_length=1)
    """A name from `arena models list`, or nas:<id> / scaled:<id>."""
    experiment: str = "arena"
    """MLflow experiment."""
    data: DataSpec
    train: TrainSpec
    resources: ResourcesSpec = ResourcesSpec()

    def flat(self) -> dict[str, str]:
        """The spec as flat `a.b.c` keys, for MLflow params."""
        return flatten(self.model_dump(mode="json"))


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested mappings into dotted keys with string values."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix=f"{path}."))
        else:
            flat[path] = "null" if value is None else str(value)
    return flat


def apply_overrides(tree: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply `key.path=value` overrides (values parsed as YAML) to a nested mapping."""
    problems = []
    result = _deep_copy(tree)
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key.strip():
            problems.append(f"--set {override!r}: expected key=value, e.g. train.epochs=3")
            continue
        node = result
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                problems.append(f"--set {override!r}: {part} is not a section")
                break
            node = child
        else:
            try:
                node[parts[-1]] = parse_yaml(raw, f"--set {override!r}") if raw.strip() else None
            except SpecError as error:
                problems += [f"--set {override!r}: {problem}" for problem in error.problems]
    if problems:
        raise SpecError(problems, source="--set")
    return result


def _deep_copy(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {key: _deep_copy(value) for key, value in tree.items()}
    return tree


def parse_spec(tree: Any, source: str = "job spec") -> JobSpec:
    """Validate a nested mapping as a JobSpec, reporting every problem together."""
    if not isinstance(tree, dict):
        raise SpecError([f"expected a mapping of fields, got {type(tree).__name__}"], source)
    try:
        return JobSpec.model_validate(tree)
    except ValidationError as error:
        raise SpecError(describe_validation_errors(error), source) from None


def describe_validation_errors(error: ValidationError) -> list[str]:
    """One readable line per pydantic error: field path, problem, bad value."""
    problems = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"]) or "(top level)"
        kind = item["type"]
        if kind == "extra_forbidden":
            problems.append(f"{path}: unknown key")
        elif kind == "missing":
            problems.append(f"{path}: required field is missing")
        elif kind == "value_error":
            problems.append(str(item["msg"]).removeprefix("Value error, "))
        else:
            problems.append(f"{path}: {item['msg']} (got {item.get('input')!r})")
    return problems


def read_yaml_tree(path: str | Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Read a YAML mapping and apply `--set` overrides; a missing or malformed file is a SpecError."""
    path = Path(path)
    if not path.is_file():
        raise SpecError([f"file not found: {path}"], source=str(path))
    try:
        with path.open("rb") as file:
            data = file.read(MAX_SPEC_BYTES + 1)
        if len(data) > MAX_SPEC_BYTES:
            raise SpecError([f"refused: larger than {MAX_SPEC_BYTES // 1024} KiB (the limit for a spec)"], source=str(path))
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SpecError([f"not UTF-8 text (byte {error.start}: {error.reason})"], source=str(path)) from None
    except OSError as error:
        raise SpecError([f"cannot read: {error.strerror or error}"], source=str(path)) from None
    tree = parse_yaml(text, str(path)) or {}
    if not isinstance(tree, dict):
        raise SpecError([f"expected a mapping of fields, got {type(tree).__name__}"], str(path))
    return apply_overrides(tree, overrides)


def load_spec(path: str | Path, overrides: Sequence[str] = ()) -> JobSpec:
    """Read a YAML job spec, apply `--set` overrides and validate it."""
    return parse_spec(read_yaml_tree(path, overrides), source=str(path))


def spec_to_yaml(spec: JobSpec) -> str:
    """The spec as YAML, every default written out (for MLflow and checkpoints)."""
    return yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)


SpecKind = Literal["job", "scaling", "nas"]
"""What a spec file holds: a training job, a compound-scaling search or a NAS search."""


def spec_kind(tree: Mapping[str, Any]) -> SpecKind:
    """Tell a spec's kind from its fields: a search has a `base` job (NAS also an `objective`); a job has neither."""
    if "base" not in tree:
        return "job"
    return "nas" if "objective" in tree else "scaling"


def spec_file_kind(path: str | Path) -> SpecKind:
    """The kind of the spec in the YAML file at `path` (a missing or malformed file is a SpecError)."""
    return spec_kind(read_yaml_tree(path))
