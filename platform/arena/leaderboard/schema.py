"""The leaderboard's tables: the zoo's architectures, paper and challenge figures, and measured runs.

A paper or challenge figure lives only in `reference_results` (and the paper columns of
`architectures`); a figure arena measured lives only in `measured_results`. The two never share a
column. The Alembic migrations under `migrations/` create exactly these tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints, so migrations can refer to them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base whose metadata the migrations are checked against."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Architecture(Base):
    """One registered zoo architecture with its paper facts."""

    __tablename__ = "architectures"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    family: Mapped[str] = mapped_column(String(100))
    year: Mapped[int | None] = mapped_column(Integer)
    paper_title: Mapped[str | None] = mapped_column(Text)
    paper_authors: Mapped[str | None] = mapped_column(Text)
    key_idea: Mapped[str | None] = mapped_column(Text)
    params: Mapped[int | None] = mapped_column(BigInteger)
    gflops: Mapped[float | None] = mapped_column(Float)
    resolution: Mapped[int | None] = mapped_column(Integer)
    paper_top1_error: Mapped[float | None] = mapped_column(Float)
    paper_top5_error: Mapped[float | None] = mapped_column(Float)


class ReferenceResult(Base):
    """A published figure: an ILSVRC entry's test error or a paper's reported error, with its source."""

    __tablename__ = "reference_results"
    __table_args__ = (UniqueConstraint("year", "team", "entry", "metric", "extra_data"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    year: Mapped[int] = mapped_column(Integer)
    team: Mapped[str] = mapped_column(String(200))
    entry: Mapped[str] = mapped_column(String(300))
    architecture: Mapped[str | None] = mapped_column(String(100))  # a zoo name; null for ensembles of many
    place: Mapped[int | None] = mapped_column(Integer)  # rank in the ILSVRC classification task
    dataset: Mapped[str] = mapped_column(String(100))  # imagenet-test (the challenge's) or imagenet-val
    metric: Mapped[str] = mapped_column(String(20))  # top1_error | top5_error, in percent
    value: Mapped[float] = mapped_column(Float)
    extra_data: Mapped[bool] = mapped_column(Boolean, default=False)  # trained on more than ILSVRC's 1.2M
    source: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)


class MeasuredResult(Base):
    """One finished MLflow run: what arena measured, never a paper figure."""

    __tablename__ = "measured_results"
    __table_args__ = (
        # Best run per model / family on a dataset, among the runs measured on val: a seek to the lowest top1_error.
        Index("ix_measured_dataset_on_model_top1", "dataset", "measured_on", "model", "top1_error"),
        Index("ix_measured_dataset_on_family_top1", "dataset", "measured_on", "family", "top1_error"),
        # The error-vs-gflops frontier: a walk in (gflops, top1_error, id) order, with or without a family.
        Index("ix_measured_dataset_on_gflops_top1_id", "dataset", "measured_on", "gflops", "top1_error", "id"),
        Index("ix_measured_dataset_on_family_gflops_top1_id", "dataset", "measured_on", "family", "gflops",
              "top1_error", "id"),
        # The runs listing, newest first, on every dataset or on one.
        Index("ix_measured_finished_id", "finished", "id"),
        Index("ix_measured_dataset_finished_id", "dataset", "finished", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), unique=True)
    model: Mapped[str] = mapped_column(String(200))
    family: Mapped[str | None] = mapped_column(String(100))
    dataset: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40))
    # val: on the dataset's val/ images, what the ranking views rank; holdout: on images held out of
    # train, as search trials are measured (listed by the runs view, never ranked beside val).
    measured_on: Mapped[str] = mapped_column(String(8), server_default="val")
    image_size: Mapped[int | None] = mapped_column(Integer)
    epochs: Mapped[int | None] = mapped_column(Integer)
    top1_error: Mapped[float | None] = mapped_column(Float)
    top5_error: Mapped[float | None] = mapped_column(Float)
    params: Mapped[int | None] = mapped_column(BigInteger)
    gflops: Mapped[float | None] = mapped_column(Float)
    images_per_second: Mapped[float | None] = mapped_column(Float)
    device_hours: Mapped[float | None] = mapped_column(Float)  # wall hours x workers (x GPUs per worker)
    device: Mapped[str] = mapped_column(String(8))  # cpu | gpu
    started: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    experiment: Mapped[str | None] = mapped_column(String(300))
    run_name: Mapped[str | None] = mapped_column(String(300))
    tracking_uri: Mapped[str | None] = mapped_column(Text)


class LeaderboardState(Base):
    """Small bookkeeping values: the sync watermark per tracking store, the reference data digest."""

    __tablename__ = "leaderboard_state"

    key: Mapped[str] = mapped_column(String(500), primary_key=True)
    number: Mapped[int | None] = mapped_column(BigInteger)
    text: Mapped[str | None] = mapped_column(Text)
