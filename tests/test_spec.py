"""Job specs: defaults, overrides, and every problem reported together with its field path."""

from __future__ import annotations

from pathlib import Path

import pytest

from arena.errors import SpecError
from arena.spec import load_spec, parse_spec, spec_to_yaml

REPO = Path(__file__).resolve().parents[1]
MINIMAL = {
    "name": "t",
    "model": "resnet18",
    "data": {"dataset": "synthetic", "image_size": 32, "num_classes": 4},
    "train": {"epochs": 1, "batch_size": 8},
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(text)
    return path


def test_minimal_spec_gets_documented_defaults() -> None:
    spec = parse_spec(MINIMAL)
    assert spec.experiment == "arena"
    assert spec.train.optimizer.name == "sgd" and spec.train.precision == "fp32"
    assert spec.resources.workers == 1 and spec.resources.max_failures == 0


def test_unknown_keys_and_bad_values_are_reported_together(tmp_path: Path) -> None:
    path = write(tmp_path, """
name: t
model: resnet18
colour: blue
data: {dataset: imagenet21k, image_size: 32}
train: {epochs: 0, batch_size: 8, precision: fp8, optimizer: {name: sgd, lr: -1}}
""")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    text = str(caught.value)
    problems = caught.value.problems
    assert len(problems) == 5, problems
    assert "colour: unknown key" in text
    assert "data.dataset" in text and "'imagefolder', 'digits' or 'synthetic'" in text
    assert "train.epochs" in text and "train.precision" in text and "'fp32', 'fp16' or 'bf16'" in text
    assert "train.optimizer.lr" in text


def test_missing_required_fields_are_named(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(write(tmp_path, "name: t\ndata: {dataset: digits}\n"))
    assert {"model: required field is missing", "train: required field is missing"} <= set(caught.value.problems)


def test_imagefolder_needs_a_root() -> None:
    tree = {**MINIMAL, "data": {"dataset": "imagefolder"}}
    with pytest.raises(SpecError, match="data.root is required"):
        parse_spec(tree)


def test_overrides_are_applied_and_typed(tmp_path: Path) -> None:
    path = write(tmp_path, spec_to_yaml(parse_spec(MINIMAL)))
    spec = load_spec(path, ["train.epochs=3", "train.optimizer.lr=0.05", "resources.workers=2", "data.augment.hflip=false"])
    assert spec.train.epochs == 3 and spec.train.optimizer.lr == 0.05
    assert spec.resources.workers == 2 and spec.data.augment.hflip is False


def test_bad_override_is_a_spec_error(tmp_path: Path) -> None:
    path = write(tmp_path, spec_to_yaml(parse_spec(MINIMAL)))
    with pytest.raises(SpecError, match="expected key=value"):
        load_spec(path, ["train.epochs"])
    with pytest.raises(SpecError, match="train.epochs"):
        load_spec(path, ["train.epochs=many"])


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(write(tmp_path, "name: [unclosed\n"))


def test_flat_params_use_dotted_names() -> None:
    flat = parse_spec(MINIMAL).flat()
    assert flat["train.optimizer.lr"] == "0.1"
    assert flat["data.dataset"] == "synthetic"


TRAINING_SPECS = sorted((REPO / "jobs" / "ilsvrc").glob("*.yaml")) + sorted((REPO / "jobs" / "demo").glob("*.yaml"))


@pytest.mark.parametrize("path", TRAINING_SPECS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_checked_in_job_spec_validates(path: Path) -> None:
    spec = load_spec(path)
    from arena import models

    models.get_model_info(spec.model)  # the model exists in the zoo


def test_make_demo_trains_every_demo_spec_once() -> None:
    """The demo lists its jobs longest first (Makefile DEMO_JOBS); a new spec in jobs/demo/ must join it."""
    import re

    listed = re.search(r"^DEMO_JOBS := (.*)$", (REPO / "Makefile").read_text(), re.M).group(1).split()
    on_disk = sorted(path.stem for path in (REPO / "jobs" / "demo").glob("*.yaml"))
    assert sorted(listed) == on_disk and len(set(listed)) == len(listed)
    assert all(load_spec(REPO / "jobs" / "demo" / f"{name}.yaml").resources.cpus_per_worker == 1 for name in listed)
