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


def laughs(levels: int = 9, indent: str = "    ") -> str:
    """A "billion laughs": each level a mapping of nine aliases to the one before (9**levels values)."""
    lines = [f"{indent}l0: &l0 {{a: 1, b: 1, c: 1, d: 1, e: 1, f: 1, g: 1, h: 1, i: 1}}"]
    for level in range(1, levels + 1):
        lines.append(f"{indent}l{level}: &l{level} {{" + ", ".join(f"{key}: *l{level - 1}" for key in "abcdefghi") + "}")
    return "\n".join(lines) + "\n"


LAUGHING_JOB = "name: lol\nmodel: resnet18\ntrain: {epochs: 1, batch_size: 8}\ndata:\n  dataset: synthetic\n  augment:\n" + laughs()


@pytest.mark.parametrize(("text", "limit"), [
    (LAUGHING_JOB, "aliases expand to more than 20,000 values"),
    ("name: x\ntrain: {milestones: " + "[" * 400 + "]" * 400 + "}\n", "nested deeper than 24 levels"),
    ("data:\n  augment:\n    a0: &a0 [1]\n" + "".join(f"    a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 60)),
     "aliases nest deeper than 24 levels"),
    ("data: &d\n  dataset: synthetic\n  augment: *d\n", "an alias refers to a section that contains it"),
    ("name: x\n" + "#" * 70_000 + "\n", "larger than 64 KiB"),
])
def test_an_unbounded_spec_is_refused_at_once(tmp_path: Path, text: str, limit: str) -> None:
    import time

    from arena.search.nas.spec import load_nas_spec
    from arena.search.scaling.spec import load_scaling_spec

    path = write(tmp_path, text)
    for load in (load_spec, load_nas_spec, load_scaling_spec):
        started = time.perf_counter()
        with pytest.raises(SpecError) as error:
            load(path)
        assert time.perf_counter() - started < 1.0
        assert str(error.value) == f"{path}: refused: {error.value.problems[0].removeprefix('refused: ')}"
        assert limit in str(error.value) and "\n" not in str(error.value)


def test_an_override_is_bounded_too(tmp_path: Path) -> None:
    path = write(tmp_path, spec_to_yaml(parse_spec(MINIMAL)))
    bomb = "{" + ", ".join(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}" if level else "1"] * 9) + "]"
                           for level in range(8)) + "}"
    with pytest.raises(SpecError, match="aliases expand to more than 20,000 values"):
        load_spec(path, [f"data.augment={bomb}"])


def test_a_spec_with_aliases_inside_the_limits_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "name: t\nmodel: resnet18\ndata: {dataset: synthetic, image_size: 32}\n"
                 "train: {epochs: &n 2, batch_size: 8, schedule: {name: multistep, milestones: [*n]}}\n")
    spec = load_spec(path)
    assert spec.train.epochs == 2 and spec.train.schedule.milestones == (2,)


def test_hundreds_of_problems_are_counted_not_listed(tmp_path: Path) -> None:
    path = write(tmp_path, "".join(f"k{i}: 1\n" for i in range(300)))
    with pytest.raises(SpecError) as error:
        load_spec(path)
    lines = str(error.value).splitlines()
    assert len(lines) == 22 and lines[-1] == "  ... and 284 more"  # 300 unknown keys, 4 required fields
