"""Image transforms built from the model's input contract and the recipe's augmentation spec."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import torch
from PIL import Image
from torch import Tensor
from torchvision.transforms import v2 as transforms
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as transform_functions

from arena.spec import AugmentSpec

Transform = Callable[..., Tensor]
BatchMixer = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


class InputContract(Protocol):
    """What a model expects of its input (the models package declares one per architecture)."""

    @property
    def resolution(self) -> int: ...
    @property
    def crop_pct(self) -> float: ...
    @property
    def mean(self) -> tuple[float, float, float]: ...
    @property
    def std(self) -> tuple[float, float, float]: ...
    @property
    def interpolation(self) -> str: ...
    @property
    def min_input(self) -> int: ...


def interpolation_of(contract: InputContract) -> InterpolationMode:
    """The torchvision interpolation mode the contract names ("bilinear" or "bicubic")."""
    try:
        return InterpolationMode(contract.interpolation)
    except ValueError:
        choices = ", ".join(mode.value for mode in InterpolationMode)
        raise ValueError(
            f"input contract: unknown interpolation {contract.interpolation!r}; valid: {choices}"
        ) from None


def eval_resize_size(contract: InputContract, image_size: int) -> int:
    """The shorter side before the centre crop: image_size / crop_pct, as timm resolves it."""
    return math.floor(image_size / contract.crop_pct)


class NormalisedTensor:
    """An image (PIL, or a uint8 or float tensor) as a float tensor normalised by the model's mean and std.

    The result of v2's ToImage, ToDtype(float32, scale=True), Normalize and ToPureTensor, in one step: each
    v2 transform walks its input's pytree and dispatches on its type, and for small images those four calls
    cost more than the arithmetic (about 0.5 ms of a digit's 0.8 ms here); this is one fused multiply-add.
    """

    def __init__(self, mean: tuple[float, float, float], std: tuple[float, float, float]) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
        # (x / 255 - mean) / std as x * scale - shift, for uint8 pixels.
        self.scale, self.shift = 1.0 / (255.0 * self.std), self.mean / self.std

    def __call__(self, image: Image.Image | Tensor) -> Tensor:
        pixels = transform_functions.pil_to_tensor(image) if isinstance(image, Image.Image) else image
        pixels = pixels.as_subclass(Tensor)  # a plain tensor, as ToPureTensor leaves it
        if pixels.dtype == torch.uint8:
            return pixels.to(torch.float32).mul_(self.scale).sub_(self.shift)
        scaled = transform_functions.to_dtype(pixels, torch.float32, scale=True)
        return (scaled - self.mean) / self.std


def to_normalised_tensor(contract: InputContract) -> list[Callable]:
    """Image to float tensor in [0, 1], normalised by the model's mean and std: the last step of every transform."""
    return [NormalisedTensor(contract.mean, contract.std)]


def _auto_augment(name: str, interpolation: InterpolationMode) -> list[Callable]:
    if name == "autoaugment":
        policy = transforms.AutoAugmentPolicy.IMAGENET
        return [transforms.AutoAugment(policy, interpolation=interpolation)]
    if name == "randaugment":
        return [transforms.RandAugment(interpolation=interpolation)]
    if name == "trivialaugment":
        return [transforms.TrivialAugmentWide(interpolation=interpolation)]
    return []


def build_train_transform(
    contract: InputContract, augment: AugmentSpec, image_size: int
) -> Transform:
    """Random crop (or resize and centre crop), flip, learned policy, then a normalised tensor."""
    interpolation = interpolation_of(contract)
    if augment.random_resized_crop:
        geometry: list[Callable] = [
            transforms.RandomResizedCrop(
                image_size, scale=(augment.crop_scale_min, 1.0), interpolation=interpolation
            )
        ]
    else:
        # Same geometry as evaluation, so objects keep one apparent size in training and test.
        geometry = [
            transforms.Resize(eval_resize_size(contract, image_size), interpolation=interpolation),
            transforms.CenterCrop(image_size),
        ]
    flip = [transforms.RandomHorizontalFlip()] if augment.hflip else []
    policy = _auto_augment(augment.auto_augment, interpolation)
    # Erasing works on the normalised tensor, so an erased patch holds random normalised values.
    erasing = [transforms.RandomErasing(p=augment.random_erasing, value="random")] if augment.random_erasing else []
    return transforms.Compose(geometry + flip + policy + to_normalised_tensor(contract) + erasing)


def build_eval_transform(contract: InputContract, image_size: int) -> Transform:
    """Resize to image_size / crop_pct, centre-crop image_size, then a normalised 3xSxS tensor."""
    interpolation = interpolation_of(contract)
    return transforms.Compose(
        [
            transforms.Resize(eval_resize_size(contract, image_size), interpolation=interpolation),
            transforms.CenterCrop(image_size),
            *to_normalised_tensor(contract),
        ]
    )


def build_batch_mixer(augment: AugmentSpec, num_classes: int) -> BatchMixer | None:
    """Mixup and/or CutMix on a batch, giving soft targets (N x classes); None when both are off."""
    mixers: list[Callable] = []
    if augment.mixup_alpha > 0:
        mixers.append(transforms.MixUp(alpha=augment.mixup_alpha, num_classes=num_classes))
    if augment.cutmix_alpha > 0:
        mixers.append(transforms.CutMix(alpha=augment.cutmix_alpha, num_classes=num_classes))
    if not mixers:
        return None
    # With both on, each batch gets one of the two at even odds (the DeiT/timm recipe).
    mixer = mixers[0] if len(mixers) == 1 else transforms.RandomChoice(mixers)

    def mix(images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        mixed_images, soft_targets = mixer(images, labels)
        return mixed_images, soft_targets

    return mix
