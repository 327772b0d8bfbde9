"""Vision transformers: ViT, DeiT and Swin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arena.models.info import imagenet_input
from arena.models.registry import register
from arena.models.timm_models import create_timm_model

if TYPE_CHECKING:
    from torch import nn

_VIT_KEY_IDEA = (
    "Cut the image into 16x16 patches, embed each as a token and run a plain transformer encoder: "
    "global self-attention from the first layer, little built-in image prior, so it needs much data."
)
_ENCODER_BLOCK = "x + MSA(LN(x)); x + MLP(LN(x))"


@register(
    "vit_b_16",
    family="transformer",
    year=2020,
    paper_title="An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale",
    paper_authors="Dosovitskiy, Beyer, Kolesnikov, Weissenborn, Zhai, Unterthiner, Dehghani, Minderer, "
    "Heigold, Gelly, Uszkoreit, Houlsby",
    key_idea=_VIT_KEY_IDEA,
    block=f"{_ENCODER_BLOCK}, 12 layers, width 768, 12 heads",
    input=imagenet_input(224, min_input=224),
    paper_top1_error=22.1,
    notes=(
        "torchvision's ViT-B/16; its position embeddings fix the input at 224 px. drop_rate sets its "
        "dropout; drop_path_rate is ignored (no stochastic depth). Paper error: trained on ImageNet-1k "
        "alone, fine-tuned at 384 px; 16.0% after ImageNet-21k pre-training."
    ),
)
def vit_b_16(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
    """Build ViT-B/16; drop_rate is its dropout (0.0), drop_path_rate is ignored."""
    from torchvision.models import vit_b_16 as torchvision_vit_b_16

    return torchvision_vit_b_16(weights=None, num_classes=num_classes, dropout=drop_rate or 0.0)


@register(
    "deit_small_patch16_224",
    family="transformer",
    year=2020,
    paper_title="Training data-efficient image transformers & distillation through attention",
    paper_authors="Touvron, Cord, Douze, Massa, Sablayrolles, Jegou",
    key_idea=(
        "A ViT trained on ImageNet-1k alone: strong augmentation (RandAugment, mixup, cutmix), "
        "stochastic depth and repeated augmentation replace the huge pre-training set."
    ),
    block=f"{_ENCODER_BLOCK}, 12 layers, width 384, 6 heads",
    input=imagenet_input(224, min_input=1, interpolation="bicubic"),
    paper_top1_error=20.2,
    notes=(
        "timm's DeiT-S without the distillation token, built with dynamic image size and padding: "
        "position embeddings are resampled and images padded to whole 16-px patches, so any size "
        "works. Paper error: single crop "
        "(Table 1; no top-5 given)."
    ),
)
def deit_small_patch16_224(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
    """Build DeiT-S; DeiT trained it with stochastic depth 0.1 (the default here)."""
    return create_timm_model(
        "deit_small_patch16_224", num_classes, drop_rate, 0.1 if drop_path_rate is None else drop_path_rate,
        dynamic_img_size=True,
        dynamic_img_pad=True,
    )


@register(
    "swin_t",
    family="transformer",
    year=2021,
    paper_title="Swin Transformer: Hierarchical Vision Transformer using Shifted Windows",
    paper_authors="Liu, Lin, Cao, Hu, Wei, Zhang, Lin, Guo",
    key_idea=(
        "Self-attention inside local 7x7 windows, shifted by half a window every other layer so "
        "windows talk, with patch merging between stages: a CNN-like pyramid at linear cost."
    ),
    block="x + W-MSA(LN(x)); x + MLP(LN(x)); then the same with shifted windows (SW-MSA)",
    input=imagenet_input(224, min_input=4, interpolation="bicubic"),
    paper_top1_error=18.7,
    notes=(
        "torchvision's Swin-T; drop_path_rate is its stochastic depth (0.2), drop_rate its dropout. "
        "Paper error: single crop (Table 1; no top-5 given)."
    ),
)
def swin_t(num_classes: int, drop_rate: float | None, drop_path_rate: float | None) -> nn.Module:
    """Build Swin-T."""
    from torchvision.models.swin_transformer import SwinTransformer

    # torchvision's swin_t() fixes stochastic depth at 0.2, so build its Swin-T configuration directly.
    return SwinTransformer(
        patch_size=[4, 4],
        embed_dim=96,
        depths=[2, 2, 6, 2],
        num_heads=[3, 6, 12, 24],
        window_size=[7, 7],
        stochastic_depth_prob=0.2 if drop_path_rate is None else drop_path_rate,
        dropout=drop_rate or 0.0,
        num_classes=num_classes,
    )
