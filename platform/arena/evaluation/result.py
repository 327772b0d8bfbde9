"""What an evaluation reports: top-1/top-5 error, error per class, the hardest classes, and their text."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

from arena import kinds
from arena.training.metrics import top_k_misses


@dataclass(frozen=True)
class ClassError:
    """How often one class was missed on the val set."""

    index: int
    """The class index (sorted folder order)."""
    folder: str
    """The class folder name (an ImageNet wnid such as n01440764, or a digit)."""
    name: str
    """The readable name: ImageNet's for a wnid, else the folder name."""
    images: int
    """Val images of this class."""
    errors: int
    """Of those, how many the top-1 prediction got wrong."""
    top1_error: float
    """Percent of this class's images whose top-1 prediction is wrong."""
    top5_error: float
    """Percent of this class's images whose label is not among the five best."""


@dataclass(frozen=True)
class Scores:
    """The errors of one set of predictions against the labels."""

    images: int
    val_top1_error: float
    val_top5_error: float
    per_class: list[ClassError]
    hardest: list[ClassError]


@dataclass(frozen=True)
class EvaluationResult:
    """One evaluation (of a run) or ensemble (of several runs), as `arena eval` and `arena ensemble` print it."""

    run_id: str
    """The evaluated run; for an ensemble, the ensemble's own run."""
    eval_run_id: str
    """The MLflow run that records this evaluation (an ensemble's is its own run)."""
    val_top1_error: float
    val_top5_error: float
    epochs: int
    """Training epochs behind the weights (an ensemble: the most any member trained)."""
    per_class: list[ClassError]
    hardest: list[ClassError]
    crops: int
    """1: centre crop; 10: four corners and centre, and their mirror images (AlexNet, VGG)."""
    images: int = 0
    """Val images evaluated."""
    kind: str = kinds.EVAL
    """`kinds.EVAL` or `kinds.ENSEMBLE`."""
    members: list[str] = field(default_factory=list)
    """An ensemble's member run ids, in the order given."""
    method: str | None = None
    """An ensemble's fusion: mean, weighted or vote."""
    weights: list[float] | None = None
    """A weighted ensemble's member weights, normalised to sum to 1."""

    def to_json(self) -> dict[str, Any]:
        """The object docs/commands.md names (run_id, val_top1_error, val_top5_error, epochs) and the details."""
        payload: dict[str, Any] = {
            "run_id": self.run_id,
            "val_top1_error": self.val_top1_error,
            "val_top5_error": self.val_top5_error,
            "epochs": self.epochs,
            "eval_run_id": self.eval_run_id,
            "kind": self.kind,
            "crops": self.crops,
            "images": self.images,
            "per_class": [asdict(row) for row in self.per_class],
            "hardest": [asdict(row) for row in self.hardest],
        }
        if self.kind == kinds.ENSEMBLE:
            payload.update(members=list(self.members), method=self.method, weights=self.weights)
        return payload

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> EvaluationResult:
        """The result `to_json` wrote (an evaluation that ran as a job on a cluster comes back so)."""
        rows = {key: [ClassError(**row) for row in payload[key]] for key in ("per_class", "hardest")}
        known = {key: payload[key] for key in ("members", "method", "weights") if key in payload}
        return cls(
            run_id=payload["run_id"], eval_run_id=payload["eval_run_id"], val_top1_error=payload["val_top1_error"],
            val_top5_error=payload["val_top5_error"], epochs=payload["epochs"], crops=payload["crops"],
            images=payload["images"], kind=payload["kind"], **rows, **known,
        )


def score_predictions(
    scores: Tensor, labels: Tensor, folders: list[str], names: list[str], *, top: int
) -> Scores:
    """Top-1/top-5 error (percent), per-class errors and the `top` hardest classes of N x C scores."""
    count, classes = scores.shape
    assert count == labels.numel() and classes == len(folders) == len(names)
    wrong1, wrong5 = top_k_misses(scores, labels)
    images = torch.bincount(labels, minlength=classes)
    errors1 = torch.bincount(labels[wrong1], minlength=classes)
    errors5 = torch.bincount(labels[wrong5], minlength=classes)
    per_class = [
        ClassError(
            index=index, folder=folders[index], name=names[index], images=int(images[index]),
            errors=int(errors1[index]),
            top1_error=100.0 * int(errors1[index]) / int(images[index]),
            top5_error=100.0 * int(errors5[index]) / int(images[index]),
        )
        for index in range(classes)
        if images[index] > 0  # a val set may leave out classes the model knows
    ]
    hardest = sorted(per_class, key=lambda row: (-row.top1_error, -row.top5_error, -row.images, row.index))
    return Scores(
        images=count,
        val_top1_error=100.0 * int(wrong1.sum()) / max(count, 1),
        val_top5_error=100.0 * int(wrong5.sum()) / max(count, 1),
        per_class=per_class,
        hardest=hardest[:top],
    )


def render_evaluation(result: EvaluationResult) -> str:
    """The text `arena eval` and `arena ensemble` print: the errors, then the hardest classes."""
    crops = "10-crop" if result.crops == 10 else "centre crop"
    if result.kind == kinds.ENSEMBLE:
        weights = f", weights {', '.join(f'{w:.3g}' for w in result.weights)}" if result.weights else ""
        lines = [
            f"ensemble {result.run_id} of {len(result.members)} runs ({result.method}{weights}): "
            + ", ".join(result.members)
        ]
    else:
        lines = [f"run {result.run_id} after {result.epochs} epochs (recorded as eval run {result.eval_run_id})"]
    lines.append(
        f"{result.images} val images, {crops}: top-1 error {result.val_top1_error:.2f}%, "
        f"top-5 error {result.val_top5_error:.2f}%"
    )
    if result.hardest:
        width = max(len("class"), *(len(_label(row)) for row in result.hardest))
        header = f"  {'class':<{width}}  images  top-1 error  top-5 error"
        lines += ["", f"{len(result.hardest)} hardest classes:", header]
        lines += [
            f"  {_label(row):<{width}}  {row.images:>6}  {row.top1_error:>10.2f}%  {row.top5_error:>10.2f}%"
            for row in result.hardest
        ]
    return "\n".join(lines)


def _label(row: ClassError) -> str:
    return row.name if row.name == row.folder else f"{row.name} ({row.folder})"
