"""The architecture zoo: every family of the ImageNet story, registered with its paper facts.

Family files import torch, torchvision and timm inside their builders, so listing the zoo (the
CLI's `models list`) answers without loading them.

    from arena.models import build, get_model_info, list_models
    model = build("resnet50", num_classes=10)
"""

from arena.models.counting import count_gflops, count_params
from arena.models.efficientnet import build_scaled_efficientnet
from arena.models.info import InputContract, ModelInfo
from arena.models.registry import (
    build,
    families,
    get_model_info,
    is_saved_name,
    keep_saved_document,
    list_models,
    model_names,
    register,
    register_namespace,
    saved_bases,
    saved_document,
)
from arena.models.resnet import build_scaled_resnet

# Importing a family file registers its variants.
from arena.models import (  # noqa: E402,F401
    alexnet,
    efficientnet,
    inception,
    nfnet,
    resnet,
    senet,
    transformer,
    vgg,
    zfnet,
)

__all__ = [
    "InputContract",
    "ModelInfo",
    "build",
    "build_scaled_efficientnet",
    "build_scaled_resnet",
    "count_gflops",
    "count_params",
    "families",
    "get_model_info",
    "is_saved_name",
    "keep_saved_document",
    "list_models",
    "model_names",
    "register",
    "register_namespace",
    "saved_bases",
    "saved_document",
]

# Serve `scaled:<id>` names (persisted by `arena search scaling`) in every process that imports the
# zoo, Ray workers included. Keep it last: it imports the zoo above.
import arena.models.scaled  # noqa: E402,F401
import arena.models.nas  # noqa: E402,F401  (serves `nas:<id>` names persisted by `arena search nas`)
