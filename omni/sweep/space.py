"""The search space of ``omni sweep``: config keys with ranges or choices, read from YAML and checked against the
config schema before anything runs.

```yaml
seed: 7                       # the sweep's seed (samplers, per-trial seeds); default 0
params:
  strategy.take_profit_atr: {low: 2.0, high: 5.0, step: 0.5}    # float range (step: on a grid)
  strategy.max_hold_bars: {low: 5, high: 60, step: 5}           # int range (ints in, ints out)
  ghost.min_samples: {low: 5, high: 50, log: true}               # log scale
  strategy.timeframes: {choices: [[1m], [1m, 5m]]}               # any values the key accepts
```

Every key must name a config field (``section.field``, or a top-level field like ``capital_usdt``); ``low``,
``high`` and every choice must be values that field accepts (the config's own validation decides, so the error
says what is allowed). Grid sampling needs a finite grid: choices, ints, or floats with a ``step``.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from omni.config import Config, UniqueKeyLoader

SPACE_KEYS = {"seed", "params"}
PARAM_KEYS = {"low", "high", "step", "log", "choices"}


class SpaceError(ValueError):
    """The space file is unusable; the message names the key and what is wrong."""


@dataclass(frozen=True, slots=True)
class Param:
    key: str  # dotted config path
    kind: str  # float | int | choice
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def grid(self) -> list[Any]:
        """Every value of a finite grid (choices; ints; floats with a step)."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            step = int(self.step or 1)
            return list(range(int(self.low), int(self.high) + 1, step))
        if self.step is None:
            raise SpaceError(f"{self.key}: grid sampling needs a step (or choices) for a float range")
        n = math.floor((self.high - self.low) / self.step + 1e-9)
        return [round(self.low + i * self.step, 12) for i in range(n + 1)]

    def sample(self, rng: random.Random) -> Any:
        """One value drawn uniformly (log-uniformly with ``log``), on the step when there is one."""
        if self.kind == "choice":
            return self.choices[rng.randrange(len(self.choices))]
        if self.log and self.kind == "int":  # log-uniform over [low - 0.5, high + 0.5), rounded: each int its share
            x = round(math.exp(rng.uniform(math.log(self.low - 0.5), math.log(self.high + 0.5))))
            return int(min(max(x, self.low), self.high))
        if self.step is not None or self.kind == "int":
            values = self.grid()
            return values[rng.randrange(len(values))]
        if self.log:
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return rng.uniform(self.low, self.high)


@dataclass(frozen=True, slots=True)
class Space:
    params: tuple[Param, ...]
    seed: int = 0

    def grid(self) -> list[dict[str, Any]]:
        """The full grid, in a fixed order (the product of every parameter's grid)."""
        keys = [p.key for p in self.params]
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(p.grid() for p in self.params))]

    def sample(self, index: int) -> dict[str, Any]:
        """Trial ``index``'s parameters for random sampling: drawn from a generator seeded by (seed, index), so a
        trial's values do not depend on how many workers ran or whether the sweep was resumed."""
        rng = random.Random(f"{self.seed}:{index}")
        return {p.key: p.sample(rng) for p in self.params}


def _field(key: str) -> Any:
    """The annotation of the config field ``key`` names; SpaceError if it names none."""
    parts = key.split(".")
    model: type[BaseModel] = Config
    for depth, name in enumerate(parts):
        fields = model.model_fields
        if name not in fields:
            where = ".".join(parts[:depth]) or "the config"
            raise SpaceError(f"{key}: {where} has no field {name!r}; it has {', '.join(sorted(fields))}")
        ann = fields[name].annotation
        if depth < len(parts) - 1:
            if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
                raise SpaceError(f"{key}: {'.'.join(parts[: depth + 1])} is a value, not a section")
            model = ann
        elif isinstance(ann, type) and issubclass(ann, BaseModel):
            raise SpaceError(f"{key}: is a section; name one of its fields")
    return ann


def apply(base: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A copy of the config document ``base`` (``Config.model_dump()``) with ``params`` set at their dotted paths."""
    doc = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for key, value in params.items():
        *sections, name = key.split(".")
        node = doc
        for s in sections:
            node = node[s]
        node[name] = value
    return doc


def config_with(base: Config, params: dict[str, Any]) -> Config:
    """``base`` with ``params`` applied, validated by the config schema (SpaceError naming the key if refused)."""
    try:
        return Config.model_validate(apply(base.model_dump(), params))
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        shown = ", ".join(f"{k}={v!r}" for k, v in params.items() if k == loc or loc.startswith(k) or k.startswith(loc))
        raise SpaceError(f"{loc}: {err['msg']} ({shown or params})") from None


def _number(key: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpaceError(f"{key}.{name}: must be a finite number, got {value!r}")
    return float(value)


def parse_param(key: str, spec: Any, base: Config) -> Param:
    annotation = _field(key)
    if not isinstance(spec, dict) or not spec:
        raise SpaceError(f"{key}: give {{low, high[, step, log]}} or {{choices: [...]}}, got {spec!r}")
    unknown = set(spec) - PARAM_KEYS
    if unknown:
        allowed = ", ".join(sorted(PARAM_KEYS))
        raise SpaceError(f"{key}: unknown setting {', '.join(sorted(unknown))} (allowed: {allowed})")
    if "choices" in spec:
        if set(spec) != {"choices"}:
            raise SpaceError(f"{key}: choices cannot be combined with low/high/step/log")
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise SpaceError(f"{key}.choices: must be a non-empty list")
        for c in choices:
            config_with(base, {key: c})
        return Param(key, "choice", choices=tuple(choices))
    if "low" not in spec or "high" not in spec:
        raise SpaceError(f"{key}: a range needs both low and high")
    lo, hi = _number(key, "low", spec["low"]), _number(key, "high", spec["high"])
    if not lo < hi:
        raise SpaceError(f"{key}: low ({spec['low']}) must be below high ({spec['high']})")
    is_int = all(isinstance(spec[k], int) and not isinstance(spec[k], bool) for k in ("low", "high"))
    if annotation is int and not is_int:
        raise SpaceError(f"{key}: is a whole number; give low and high as integers (got {spec['low']!r}, "
                         f"{spec['high']!r})")  # fmt: skip
    step = None if spec.get("step") is None else _number(key, "step", spec["step"])
    if step is not None and step <= 0:
        raise SpaceError(f"{key}.step: must be > 0")
    if is_int and step is not None and step != int(step):
        raise SpaceError(f"{key}.step: an int range needs an int step")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise SpaceError(f"{key}.log: must be true or false")
    if log and lo <= 0:
        raise SpaceError(f"{key}: a log range needs low > 0")
    if log and step is not None:
        raise SpaceError(f"{key}: log and step cannot be combined")
    kind = "int" if is_int else "float"
    for v in (spec["low"], spec["high"]):
        config_with(base, {key: v})
    return Param(key, kind, lo, hi, step, log)


def load_space(path: Path, base: Config) -> Space:
    """Read and check a space file; SpaceError naming the key and the problem."""
    try:
        doc = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=UniqueKeyLoader)  # a repeated key: error
    except OSError as e:
        raise SpaceError(f"{path}: cannot read ({e.strerror or e})") from None
    except yaml.YAMLError as e:
        raise SpaceError(f"{path}: not YAML ({e})") from None
    if not isinstance(doc, dict):
        raise SpaceError(f"{path}: expected a mapping with 'params' (and optionally 'seed')")
    unknown = set(doc) - SPACE_KEYS
    if unknown:
        raise SpaceError(f"{path}: unknown top-level key {', '.join(sorted(unknown))} (allowed: seed, params)")
    params = doc.get("params")
    if not isinstance(params, dict) or not params:
        raise SpaceError(f"{path}: 'params' must map config keys to ranges or choices")
    seed = doc.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SpaceError(f"{path}: seed must be an integer >= 0, got {seed!r}")
    return Space(tuple(parse_param(str(k), v, base) for k, v in params.items()), seed)
