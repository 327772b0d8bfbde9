"""The model zoo, tested from its registry: every model builds, runs, and costs what the tables say."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

import arena.models
from arena.errors import ArenaError, UnknownNameError
from arena.models import (
    InputContract,
    ModelInfo,
    build,
    build_scaled_efficientnet,
    build_scaled_resnet,
    count_gflops,
    count_params,
    families,
    get_model_info,
    list_models,
    model_names,
    register,
    register_namespace,
)
from arena.models.info import imagenet_input
from arena.models.registry import unregister_namespace

MODELS_FOLDER = Path(arena.models.__file__).parent
COMPLEXITY = json.loads((MODELS_FOLDER / "complexity.json").read_text())
PUBLISHED = json.loads((MODELS_FOLDER / "published.json").read_text())
REGISTERED = model_names()
NUM_CLASSES = 7  # odd, so a head left at 1000 or halved cannot pass
# Seconds each to build or to run at their smallest input.
EXPENSIVE = {
    "senet154", "efficientnet_b6", "efficientnet_b7", "nfnet_f1", "nfnet_f2", "nfnet_f3", "vit_b_16",
    "inception_v4", "inception_resnet_v2",
}
# One cheap model per family carries the backward check.
BACKWARD_REPRESENTATIVES = {
    "alexnet", "zfnet", "vgg11", "googlenet", "resnet18", "seresnet50", "efficientnet_b0", "nfnet_f0",
    "deit_small_patch16_224",
}
# Counting GMACs at native resolution is cheap for these (at most ~5 GMACs each).
GFLOPS_RECOUNTED = {name for name, figures in COMPLEXITY.items() if figures["gflops"] <= 5.0}
DESIGN_RECORD_FIELDS = {
    "name", "family", "year", "params", "gflops", "resolution", "paper_top1_error", "paper_top5_error",
}


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Run on one thread: on a shared two-core machine, two threads per process thrash."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _classifier_sizes(model: nn.Module) -> tuple[int, int, bool]:
    """Return (inputs, outputs, has bias) of the final layer, the one num_classes sizes."""
    layers = [module for module in model.modules() if isinstance(module, (nn.Linear, nn.Conv2d))]
    head = layers[-1]
    if isinstance(head, nn.Conv2d):  # a 1x1 conv classifier (timm's ResNetV2)
        assert head.kernel_size == (1, 1)
        return head.in_channels, head.out_channels, head.bias is not None
    return head.in_features, head.out_features, head.bias is not None


@pytest.fixture(
    scope="module",
    params=[pytest.param(name, marks=pytest.mark.slow) if name in EXPENSIVE else name for name in REGISTERED],
)
def built(request: pytest.FixtureRequest) -> Iterator[tuple[str, nn.Module]]:
    """Build each registered model once, with NUM_CLASSES outputs, for all the tests that use it."""
    torch.manual_seed(0)
    yield request.param, build(request.param, num_classes=NUM_CLASSES)


def test_forward_at_min_input_gives_one_logit_per_class(built: tuple[str, nn.Module]) -> None:
    name, model = built
    side = get_model_info(name).min_input
    model.train()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, side, side))
    assert logits.shape == (2, NUM_CLASSES)
    assert torch.isfinite(logits).all()
    if side > 1:
        # min_input is the smallest side that works, not just one that does.
        with torch.no_grad(), pytest.raises((RuntimeError, ValueError, AssertionError)):
            model.eval()(torch.randn(1, 3, side - 1, side - 1))


def test_params_match_complexity_table(built: tuple[str, nn.Module]) -> None:
    name, model = built
    inputs, outputs, has_bias = _classifier_sizes(model)
    assert outputs == NUM_CLASSES
    # The table counts the 1000-class model; only the classifier's rows differ.
    extra_rows = (1000 - NUM_CLASSES) * (inputs + has_bias)
    assert count_params(model) + extra_rows == COMPLEXITY[name]["params"] == get_model_info(name).params


def test_gflops_match_complexity_table(built: tuple[str, nn.Module]) -> None:
    name, model = built
    if name not in GFLOPS_RECOUNTED:
        pytest.skip("GMACs recounted only for models under 5 GMACs (regenerate the table for the rest)")
    inputs, _, _ = _classifier_sizes(model)
    counted = count_gflops(model, get_model_info(name).resolution)
    counted += (1000 - NUM_CLASSES) * inputs / 1e9
    assert counted == pytest.approx(COMPLEXITY[name]["gflops"], rel=0.005)


def test_backward_reaches_every_parameter(built: tuple[str, nn.Module]) -> None:
    name, model = built
    if name not in BACKWARD_REPRESENTATIVES:
        pytest.skip("backward checked on one model per family")
    side = max(get_model_info(name).min_input, 32)
    model.train()
    model.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(torch.randn(2, 3, side, side)), torch.tensor([0, NUM_CLASSES - 1])).backward()
    missing = [parameter_name for parameter_name, parameter in model.named_parameters() if parameter.grad is None]
    assert not missing


def test_every_family_has_a_backward_representative() -> None:
    assert {get_model_info(name).family for name in BACKWARD_REPRESENTATIVES} == set(families())


def test_tables_cover_every_registered_model() -> None:
    assert set(COMPLEXITY) == set(REGISTERED)
    assert set(PUBLISHED) == set(REGISTERED)
    assert all(entry["source"] for entry in PUBLISHED.values())


@pytest.mark.parametrize("name", sorted(name for name, entry in PUBLISHED.items() if entry["params"]))
def test_counted_figures_agree_with_published(name: str) -> None:
    published, counted = PUBLISHED[name], COMPLEXITY[name]
    assert counted["params"] == pytest.approx(published["params"], rel=0.01)
    assert counted["gflops"] == pytest.approx(published["gflops"], rel=0.05)


def test_lecture_models_are_registered() -> None:
    lecture = {
        "alexnet", "zfnet", "vgg16", "vgg16_bn", "googlenet", "inception_v3", "inception_v4",
        "inception_resnet_v2", "resnet152", "preact_resnet50", "wide_resnet50_2", "resnext50_32x4d",
        "seresnet50", "seresnext50_32x4d", "senet154", "efficientnet_b0", "efficientnet_b7",
        "nfnet_f0", "nfnet_f3", "vit_b_16",
    }
    assert lecture <= set(REGISTERED)


def test_unknown_model_names_the_closest_ones() -> None:
    with pytest.raises(UnknownNameError, match="resnet50") as raised:
        build("resnet5")
    assert raised.value.kind == "model"
    with pytest.raises(UnknownNameError, match="efficientnet_b0"):
        get_model_info("efficientnet-b0")


def test_unknown_family_names_the_closest_ones() -> None:
    with pytest.raises(UnknownNameError, match="resnet") as raised:
        list_models(family="resnets")
    assert raised.value.kind == "family"
    assert {info.family for info in list_models(family="vgg")} == {"vgg"}


def test_duplicate_registration_raises() -> None:
    facts = dict(
        family="test", year=2000, paper_title="t", paper_authors="a", key_idea="k", block="b",
        input=imagenet_input(32, min_input=1),
    )
    with pytest.raises(ValueError, match="already registered"):
        register("resnet50", **facts)(lambda num_classes, drop_rate, drop_path_rate: nn.Identity())
    assert get_model_info("resnet50").family == "resnet"


def test_build_rejects_bad_arguments_naming_the_field() -> None:
    with pytest.raises(ArenaError, match="num_classes"):
        build("alexnet", num_classes=0)
    with pytest.raises(ArenaError, match="drop_path_rate"):
        build("resnet18", drop_path_rate=1.5)


def test_build_passes_drop_rates_through() -> None:
    alexnet = build("alexnet", num_classes=NUM_CLASSES, drop_rate=0.3)
    assert {module.p for module in alexnet.modules() if isinstance(module, nn.Dropout)} == {0.3}
    resnet = build("resnet18", num_classes=NUM_CLASSES, drop_rate=0.3, drop_path_rate=0.1)
    assert resnet.drop_rate == 0.3
    assert max(module.drop_prob for module in resnet.modules() if type(module).__name__ == "DropPath") == 0.1
    # None keeps the paper's default: EfficientNet-B0 used dropout 0.2.
    assert build("efficientnet_b0", num_classes=NUM_CLASSES).drop_rate == 0.2


@pytest.fixture
def fake_namespace() -> Iterator[None]:
    """Serve one tiny model, fake:tiny, through a namespace, as a search would."""
    info = ModelInfo(
        name="fake:tiny", family="fake-family", year=2024, paper_title="-", paper_authors="-",
        key_idea="-", block="-", input=imagenet_input(8, min_input=1), paper_top1_error=None,
        paper_top5_error=None, params=None, gflops=None,
    )

    def build_tiny(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
        return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))

    register_namespace("fake", lambda name, home: (info, build_tiny) if name == "fake:tiny" else None, lambda home: ["tiny"])
    yield
    unregister_namespace("fake")


@pytest.mark.usefixtures("fake_namespace")
def test_namespace_serves_build_info_and_listing(tmp_path: Path) -> None:
    assert build("fake:tiny", num_classes=3, home=tmp_path)(torch.zeros(2, 3, 8, 8)).shape == (2, 3)
    assert get_model_info("fake:tiny", tmp_path).family == "fake-family"
    assert "fake:tiny" in model_names(tmp_path)
    assert [info.name for info in list_models(family="fake-family", home=tmp_path)] == ["fake:tiny"]
    with pytest.raises(UnknownNameError, match="fake:tiny"):
        build("fake:tine", home=tmp_path)


@pytest.mark.usefixtures("fake_namespace")
def test_a_namespaced_name_without_a_home_is_an_error_naming_it() -> None:
    with pytest.raises(ArenaError, match="'fake:tiny'.*no.* home|'fake:tiny'.*home"):
        get_model_info("fake:tiny")
    assert "fake:tiny" not in model_names()  # the zoo alone lists without a home
    assert get_model_info("resnet50").family == "resnet"


def test_list_models_answers_fast_in_a_fresh_interpreter() -> None:
    script = "import json; from arena.models import list_models; print(json.dumps([i.to_record() for i in list_models()]))"
    started = time.perf_counter()
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    elapsed = time.perf_counter() - started
    records = json.loads(finished.stdout)
    assert elapsed < 5.0
    assert {record["name"] for record in records} == set(REGISTERED)
    for record in records:
        assert set(record) == DESIGN_RECORD_FIELDS
        assert isinstance(record["params"], int) and isinstance(record["gflops"], float)
        assert isinstance(record["resolution"], int) and isinstance(record["year"], int)
        for error in ("paper_top1_error", "paper_top5_error"):
            assert record[error] is None or 0.0 < record[error] < 100.0


def test_input_contracts_follow_the_papers() -> None:
    assert get_model_info("inception_v3").input == InputContract(299, 0.875, (0.5,) * 3, (0.5,) * 3, "bicubic", 75)
    resolutions = [get_model_info(f"efficientnet_b{index}").resolution for index in range(8)]
    assert resolutions == [224, 240, 260, 300, 380, 456, 528, 600]
    with pytest.raises(ValueError, match="interpolation"):
        imagenet_input(224, min_input=1, interpolation="nearest")


def test_scaled_efficientnet_matches_compound_scaling() -> None:
    assert count_params(build_scaled_efficientnet(1.0, 1.0)) == COMPLEXITY["efficientnet_b0"]["params"]
    # Width 1.2, depth 1.1 of B0 (the B0->phi=1 step of a compound-scaling search).
    assert count_params(build_scaled_efficientnet(1.2, 1.1)) == 10_934_844


def test_scaled_resnet_rounds_depths_up_and_widths_to_eight() -> None:
    assert count_params(build_scaled_resnet(1.0, 1.0)) == COMPLEXITY["resnet50"]["params"]
    model = build_scaled_resnet(0.3, 0.5, num_classes=NUM_CLASSES)
    assert [len(getattr(model, f"layer{stage}")) for stage in range(1, 5)] == [2, 2, 3, 2]
    convolutions = [module for module in model.modules() if isinstance(module, nn.Conv2d)]
    assert all(conv.out_channels % 8 == 0 for conv in convolutions)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, NUM_CLASSES)
