"""A Ray Tune Searcher that proposes architectures, prices each, and only then lets it train.

Three ways to propose (`tune.searcher`): TPE (Ray's OptunaSearch over one categorical per stage
field), uniform random samples, and regularised evolution (Real et al., 2019: the first
`population` trials are random; then the best of `sample_size` random members is mutated and the
oldest member dies). Every proposal is priced before Tune sees it; one over budget, or already
tried, never trains: the proposer is told it scored 0 (or its known reward) and proposes again.
"""

from __future__ import annotations

import pickle
import random
import tempfile
from collections import deque
from pathlib import Path
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ray.tune.search import Searcher

from arena.models.nas import Architecture
from arena.search.nas import space
from arena.search.nas.reward import NasPrice
from arena.search.nas.spec import NasTuneSpec

REWARD = "reward"
MAX_ATTEMPTS = 200
"""Proposals per trial before giving up: a space almost wholly over budget or already tried."""


@dataclass(frozen=True)
class Candidate:
    """A proposed architecture with its price and the budget's verdict."""

    architecture: Architecture
    price: NasPrice
    over_budget: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """The architecture's content hash."""
        return self.architecture.id


@dataclass
class Member:
    """A trained architecture in the evolving population."""

    architecture: Architecture
    reward: float


class NasSearcher(Searcher):
    """Propose, price and hand to Tune one architecture per trial; learn from each trial's reward."""

    def __init__(
        self,
        tuning: NasTuneSpec,
        evaluate: Callable[[Architecture], Candidate],
        to_config: Callable[[Candidate], dict[str, Any]],
        reward_of: Callable[[Candidate, float], float],
        progress: Callable[[str], None],
    ) -> None:
        # The trials are ranked (by ASHA) on the reward each epoch reports; this searcher learns from
        # the reward of a trial's last val error, the same number.
        super().__init__(metric=REWARD, mode="max")
        self.tuning = tuning
        self.evaluate = evaluate
        self.to_config = to_config
        self.reward_of = reward_of
        self.progress = progress
        self.rng = random.Random(tuning.seed)
        self.population: deque[Member] = deque(maxlen=tuning.population)
        self.accepted = 0
        self.candidates: dict[str, Candidate] = {}
        """Every architecture priced so far, by id (kept and dropped)."""
        self.rewards: dict[str, float] = {}
        self.live: dict[str, tuple[str, str]] = {}
        """Tune trial id -> (proposer key, architecture id)."""
        self.optuna = None
        if tuning.searcher == "tpe":
            from ray import tune
            from ray.tune.search.optuna import OptunaSearch

            choices = {key: tune.choice(list(values)) for key, values in space.flat_space().items()}
            self.optuna = OptunaSearch(space=choices, metric=REWARD, mode="max", seed=tuning.seed)

    _STATE = ("accepted", "candidates", "rewards", "live", "population")
    """What the searcher has learnt; Tune saves it with the experiment, so a continued search proposes on."""

    def save(self, checkpoint_path: str) -> None:
        """Write what the searcher has learnt (Tune calls this as it saves the experiment)."""
        state: dict[str, Any] = {name: getattr(self, name) for name in self._STATE}
        state["rng"] = self.rng.getstate()
        if self.optuna is not None:
            with tempfile.TemporaryDirectory(prefix="arena-optuna-") as folder:
                self.optuna.save(str(Path(folder) / "optuna.pkl"))
                state["optuna"] = (Path(folder) / "optuna.pkl").read_bytes()
        Path(checkpoint_path).write_bytes(pickle.dumps(state))

    def restore(self, checkpoint_path: str) -> None:
        """Read back what `save` wrote (Tune calls this when a search is continued)."""
        state = pickle.loads(Path(checkpoint_path).read_bytes())
        for name in self._STATE:
            setattr(self, name, state[name])
        self.rng.setstate(state["rng"])
        if self.optuna is not None and "optuna" in state:
            with tempfile.TemporaryDirectory(prefix="arena-optuna-") as folder:
                (Path(folder) / "optuna.pkl").write_bytes(state["optuna"])
                self.optuna.restore(str(Path(folder) / "optuna.pkl"))

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        """Keep our own space and objective whatever Tune passes."""
        return True

    def _propose(self, key: str) -> Architecture | None:
        if self.optuna is not None:
            return space.from_flat(self.optuna.suggest(key))
        if self.tuning.searcher == "evolution" and self.accepted >= self.tuning.population:
            if not self.population:
                return None  # every random member is still training: ask again later
            contestants = self.rng.sample(list(self.population), min(self.tuning.sample_size, len(self.population)))
            return space.mutate(max(contestants, key=lambda member: member.reward).architecture, self.rng)
        return space.sample_architecture(self.rng)

    def _tell(self, key: str, reward: float | None) -> None:
        if self.optuna is not None:
            self.optuna.on_trial_complete(key, None if reward is None else {REWARD: reward})

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        """The next priced, within-budget, untried architecture's trial config."""
        if self.accepted >= self.tuning.num_samples:
            return Searcher.FINISHED
        for attempt in range(MAX_ATTEMPTS):
            key = f"{trial_id}-{attempt}"
            architecture = self._propose(key)
            if architecture is None:
                return None
            if architecture.id in self.candidates:
                # Already priced: dropped (0) or trained (its reward, None while it trains).
                known = self.candidates[architecture.id]
                self._tell(key, 0.0 if known.over_budget else self.rewards.get(architecture.id))
                continue
            candidate = self.candidates[architecture.id] = self.evaluate(architecture)
            if candidate.over_budget:
                self.progress(f"dropped {candidate.id}: {'; '.join(candidate.over_budget)}")
                self._tell(key, 0.0)
                continue
            self.accepted += 1
            self.live[trial_id] = (key, candidate.id)
            return self.to_config(candidate)
        self.progress(f"no new architecture within budget after {MAX_ATTEMPTS} proposals; stopping the search")
        return Searcher.FINISHED

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Score the trial by the reward of its last validation error and feed it back."""
        if trial_id not in self.live:
            return
        key, architecture_id = self.live.pop(trial_id)
        candidate = self.candidates[architecture_id]
        error_value = (result or {}).get("val_top1_error")
        reward = None if error or error_value is None else self.reward_of(candidate, float(error_value))
        if reward is not None:
            self.rewards[architecture_id] = reward
            self.population.append(Member(candidate.architecture, reward))
        self._tell(key, reward)
