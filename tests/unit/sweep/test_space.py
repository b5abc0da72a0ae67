"""omni.sweep.space: the YAML search space, checked against the config schema (refusals name the key)."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest

from omni.config import Config, load_config
from omni.sweep.space import Param, Space, SpaceError, apply, config_with, load_space

GOOD = """
seed: 7
params:
  strategy.take_profit_atr: {low: 2.0, high: 5.0, step: 0.5}
  strategy.max_hold_bars: {low: 5, high: 60, step: 5}
  ghost.confidence: {low: 0.9, high: 0.999, log: true}
  strategy.timeframes: {choices: [[1m], [1m, 5m]]}
  capital_usdt: {low: 10, high: 20}
"""


@pytest.fixture(scope="module")
def base() -> Config:
    return load_config(None)


def space_of(tmp_path: Path, base: Config, text: str) -> Space:
    p = tmp_path / "space.yaml"
    p.write_text(text)
    return load_space(p, base)


def refusal(tmp_path: Path, base: Config, params: str, seed: str = "") -> str:
    with pytest.raises(SpaceError) as e:
        space_of(tmp_path, base, f"{seed}params:\n  {params}\n")
    return str(e.value)


# --- a good space ---------------------------------------------------------------------------------------------


def test_good_space_parses_every_kind(tmp_path, base):
    space = space_of(tmp_path, base, GOOD)
    assert space.seed == 7
    by_key = {p.key: p for p in space.params}
    assert [p.key for p in space.params] == [
        "strategy.take_profit_atr", "strategy.max_hold_bars", "ghost.confidence", "strategy.timeframes",
        "capital_usdt",
    ]  # fmt: skip
    assert by_key["strategy.take_profit_atr"] == Param("strategy.take_profit_atr", "float", 2.0, 5.0, 0.5)
    assert by_key["strategy.max_hold_bars"] == Param("strategy.max_hold_bars", "int", 5, 60, 5.0)
    assert by_key["ghost.confidence"] == Param("ghost.confidence", "float", 0.9, 0.999, None, log=True)
    assert by_key["strategy.timeframes"] == Param("strategy.timeframes", "choice", choices=(["1m"], ["1m", "5m"]))
    assert by_key["capital_usdt"].kind == "int"  # a top-level field; int bounds: ints in, ints out


def test_seed_defaults_to_zero(tmp_path, base):
    space = space_of(tmp_path, base, "params:\n  strategy.breakout_bars: {low: 10, high: 20}\n")
    assert space.seed == 0


def test_example_space_of_the_repo_parses(base):
    space = load_space(Path(__file__).parents[3] / "config" / "sweep.yaml", base)
    assert space.params and space.grid()


def test_sampled_choice_builds_a_config(tmp_path, base):
    space = space_of(tmp_path, base, GOOD)
    for i in range(20):
        values = space.sample(i)
        cfg = config_with(base, values)
        assert cfg.strategy.timeframes == values["strategy.timeframes"]
        assert cfg.strategy.max_hold_bars == values["strategy.max_hold_bars"]


# --- refusals name the key ------------------------------------------------------------------------------------


def test_typo_key_lists_the_section_fields(tmp_path, base):
    msg = refusal(tmp_path, base, "strategy.take_proft_atr: {low: 2.0, high: 5.0}")
    assert msg.startswith("strategy.take_proft_atr:")
    assert "'take_proft_atr'" in msg
    for f in ("take_profit_atr", "stop_atr", "breakout_bars", "max_hold_bars", "timeframes"):
        assert f in msg


def test_typo_section_lists_the_config_sections(tmp_path, base):
    msg = refusal(tmp_path, base, "stratgy.stop_atr: {low: 1.0, high: 2.0}")
    assert msg.startswith("stratgy.stop_atr:") and "the config has no field 'stratgy'" in msg
    assert "strategy" in msg and "ghost" in msg


def test_section_instead_of_a_field(tmp_path, base):
    msg = refusal(tmp_path, base, "strategy: {low: 1, high: 2}")
    assert msg.startswith("strategy:") and "is a section" in msg


def test_field_of_a_non_section(tmp_path, base):
    msg = refusal(tmp_path, base, "capital_usdt.foo: {low: 1, high: 2}")
    assert msg.startswith("capital_usdt.foo:") and "capital_usdt is a value, not a section" in msg
    msg = refusal(tmp_path, base, "strategy.stop_atr.x: {low: 1, high: 2}")
    assert "strategy.stop_atr is a value, not a section" in msg


def test_bound_outside_the_field_range_says_what_is_allowed(tmp_path, base):
    msg = refusal(tmp_path, base, "strategy.breakout_bars: {low: 1, high: 10}")
    assert msg.startswith("strategy.breakout_bars:")
    assert "greater than or equal to 5" in msg
    assert "strategy.breakout_bars=1" in msg
    msg = refusal(tmp_path, base, "strategy.breakout_bars: {low: 10, high: 501}")
    assert "less than or equal to 500" in msg and "strategy.breakout_bars=501" in msg


def test_bad_choice_names_the_key(tmp_path, base):
    msg = refusal(tmp_path, base, "strategy.timeframes: {choices: [[1m], [2m]]}")
    assert msg.startswith("strategy.timeframes")
    assert "'1m'" in msg and "2m" in msg  # what is allowed, and what was given
    msg = refusal(tmp_path, base, "strategy.timeframes: {choices: [[1m, 1m]]}")
    assert "strategy.timeframes" in msg and "must not repeat" in msg


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ("strategy.breakout_bars: {low: 20, high: 20}", "low (20) must be below high (20)"),
        ("strategy.breakout_bars: {low: 30, high: 20}", "low (30) must be below high (20)"),
        ("strategy.breakout_bars: {low: 10, high: 20, stepp: 2}", "unknown setting stepp"),
        ("strategy.timeframes: {choices: [[1m]], low: 1}", "choices cannot be combined"),
        ("strategy.timeframes: {choices: []}", "strategy.timeframes.choices: must be a non-empty list"),
        ("strategy.timeframes: {choices: 1m}", "strategy.timeframes.choices: must be a non-empty list"),
        ("strategy.stop_atr: {low: 0.0, high: 2.0, log: true}", "a log range needs low > 0"),
        ("strategy.stop_atr: {low: 1.0, high: 2.0, log: yes please}", "strategy.stop_atr.log: must be true or false"),
        ("strategy.stop_atr: {low: 1.0, high: 2.0, step: 0.5, log: true}", "log and step cannot be combined"),
        ("strategy.stop_atr: {low: 1.0, high: 2.0, step: 0}", "strategy.stop_atr.step: must be > 0"),
        ("strategy.stop_atr: {low: 1.0, high: 2.0, step: -0.5}", "strategy.stop_atr.step: must be > 0"),
        ("strategy.breakout_bars: {low: 10, high: 20, step: 2.5}", "an int range needs an int step"),
        ("strategy.stop_atr: {low: 1.0}", "a range needs both low and high"),
        ("strategy.stop_atr: {high: 1.0}", "a range needs both low and high"),
        ("strategy.stop_atr: {low: one, high: 2.0}", "strategy.stop_atr.low: must be a finite number"),
        ("strategy.stop_atr: {low: true, high: 2.0}", "strategy.stop_atr.low: must be a finite number"),
        ("strategy.stop_atr: {low: 1.0, high: .inf}", "strategy.stop_atr.high: must be a finite number"),
        ("strategy.stop_atr: {}", "give {low, high[, step, log]} or {choices: [...]}"),
        ("strategy.stop_atr: [1, 2]", "give {low, high[, step, log]} or {choices: [...]}"),
    ],
)
def test_bad_param_spec_names_the_key(tmp_path, base, params, needle):
    msg = refusal(tmp_path, base, params)
    key = params.split(":")[0]
    assert msg.startswith(key)
    assert needle in msg


@pytest.mark.parametrize("seed", ["-1", "1.5", "seven", "true", "[1]"])
def test_bad_seed(tmp_path, base, seed):
    msg = refusal(tmp_path, base, "strategy.breakout_bars: {low: 10, high: 20}", seed=f"seed: {seed}\n")
    assert "seed must be an integer >= 0" in msg


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("- a\n- b\n", "expected a mapping with 'params'"),
        ("params: {}\n", "'params' must map config keys"),
        ("seed: 1\n", "'params' must map config keys"),
        ("params: [strategy.stop_atr]\n", "'params' must map config keys"),
        ("parms:\n  strategy.stop_atr: {low: 1.0, high: 2.0}\n", "unknown top-level key parms"),
        ("params: {a: [\n", "not YAML"),
    ],
)
def test_bad_file_shape(tmp_path, base, text, needle):
    with pytest.raises(SpaceError, match=r"space\.yaml") as e:
        space_of(tmp_path, base, text)
    assert needle in str(e.value)


def test_missing_file(tmp_path, base):
    with pytest.raises(SpaceError, match="cannot read"):
        load_space(tmp_path / "nope.yaml", base)


def test_config_with_refusal_names_the_key_and_leaves_base_alone(base):
    with pytest.raises(SpaceError, match=r"^strategy\.breakout_bars: .*strategy\.breakout_bars=3"):
        config_with(base, {"strategy.breakout_bars": 3})
    cfg = config_with(base, {"strategy.breakout_bars": 33, "capital_usdt": 50})
    assert cfg.strategy.breakout_bars == 33 and cfg.capital_usdt == 50
    assert base.strategy.breakout_bars == 20 and base.capital_usdt == 12


def test_apply_copies_the_document():
    doc = {"a": 1, "s": {"x": 1, "y": 2}}
    out = apply(doc, {"s.x": 5, "a": 2})
    assert out == {"a": 2, "s": {"x": 5, "y": 2}}
    assert doc == {"a": 1, "s": {"x": 1, "y": 2}}


# --- grid and sampling ----------------------------------------------------------------------------------------


def test_float_grid_without_step_is_refused_by_grid_only(tmp_path, base):
    space = space_of(tmp_path, base, "params:\n  strategy.stop_atr: {low: 1.0, high: 2.0}\n")
    with pytest.raises(SpaceError, match=r"^strategy\.stop_atr: grid sampling needs a step"):
        space.grid()
    assert 1.0 <= space.sample(0)["strategy.stop_atr"] <= 2.0  # random sampling is fine


def test_param_grids():
    assert Param("k", "int", 5, 60, 5).grid() == list(range(5, 61, 5))
    assert Param("k", "int", 1, 4).grid() == [1, 2, 3, 4]
    assert Param("k", "int", 1, 10, 4).grid() == [1, 5, 9]
    assert Param("k", "float", 2.0, 5.0, 0.5).grid() == [2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]
    assert Param("k", "float", 0.1, 0.3, 0.1).grid() == [0.1, 0.2, 0.3]  # no float drift, high reached
    assert Param("k", "float", 0.7, 1.0, 0.1).grid() == [0.7, 0.8, 0.9, 1.0]
    assert Param("k", "float", 1.0, 2.0, 0.3).grid() == [1.0, 1.3, 1.6, 1.9]  # never past high
    assert Param("k", "choice", choices=(["1m"], ["1m", "5m"])).grid() == [["1m"], ["1m", "5m"]]


def test_int_ranges_sample_ints():
    rng = random.Random(1)
    p = Param("k", "int", 5, 9)
    values = [p.sample(rng) for _ in range(300)]
    assert all(type(v) is int for v in values)
    assert set(values) == {5, 6, 7, 8, 9}
    stepped = Param("k", "int", 5, 60, 5)
    assert {stepped.sample(rng) for _ in range(500)} == set(range(5, 61, 5))


def test_float_steps_land_on_the_grid():
    rng = random.Random(2)
    p = Param("k", "float", 2.0, 5.0, 0.5)
    values = {p.sample(rng) for _ in range(300)}
    assert values == set(p.grid())


def test_float_and_log_samples_stay_in_range():
    rng = random.Random(3)
    flat = [Param("k", "float", 1.0, 2.0).sample(rng) for _ in range(500)]
    assert all(1.0 <= v <= 2.0 for v in flat)
    assert len(set(flat)) == 500
    log = [Param("k", "float", 1.0, 1000.0, log=True).sample(rng) for _ in range(2000)]
    assert all(1.0 <= v <= 1000.0 for v in log)
    assert 15 < statistics.median(log) < 65  # log-uniform: median ~ sqrt(1 * 1000) ~ 31.6


def test_int_log_range_samples_log_uniformly():
    rng = random.Random(4)
    p = Param("k", "int", 1, 1000, log=True)
    values = [p.sample(rng) for _ in range(2000)]
    assert all(type(v) is int and 1 <= v <= 1000 for v in values)
    assert statistics.median(values) < 100  # log-uniform: ~32; uniform: ~500


def test_choice_samples_are_the_choices():
    rng = random.Random(5)
    p = Param("k", "choice", choices=(["1m"], ["1m", "5m"], ["3m"]))
    values = [p.sample(rng) for _ in range(200)]
    assert all(v in p.choices for v in values)
    assert {tuple(v) for v in values} == {("1m",), ("1m", "5m"), ("3m",)}


def test_space_sample_is_a_function_of_seed_and_index(tmp_path, base):
    space = space_of(tmp_path, base, GOOD)
    again = space_of(tmp_path, base, GOOD)
    assert [space.sample(i) for i in range(10)] == [again.sample(i) for i in range(10)]
    assert [space.sample(i) for i in (3, 1, 2)] == [space.sample(3), space.sample(1), space.sample(2)]
    drawn = [space.sample(i) for i in range(10)]
    assert len({repr(d) for d in drawn}) == 10  # differs across indices
    other = Space(space.params, seed=8)
    assert [other.sample(i) for i in range(10)] != drawn  # and across seeds


def test_space_grid_is_the_full_product_in_order():
    a = Param("a", "int", 1, 3)
    b = Param("b", "choice", choices=("x", "y"))
    c = Param("c", "float", 0.5, 1.0, 0.5)
    grid = Space((a, b, c)).grid()
    assert len(grid) == 3 * 2 * 2
    assert grid[:3] == [{"a": 1, "b": "x", "c": 0.5}, {"a": 1, "b": "x", "c": 1.0}, {"a": 1, "b": "y", "c": 0.5}]
    assert grid[-1] == {"a": 3, "b": "y", "c": 1.0}
    combos = {(g["a"], g["b"], g["c"]) for g in grid}
    assert combos == {(x, y, z) for x in (1, 2, 3) for y in ("x", "y") for z in (0.5, 1.0)}


def test_a_float_range_on_an_integer_field_is_refused_naming_it(tmp_path, base):
    # its inner samples (39.23 bars) would be refused by the config at trial time: refused before any run instead
    with pytest.raises(SpaceError, match=r"strategy\.breakout_bars: is a whole number"):
        space_of(tmp_path, base, "params:\n  strategy.breakout_bars: {low: 10.0, high: 60.0}\n")


def test_a_key_given_twice_is_refused(tmp_path, base):
    text = "params:\n  strategy.stop_atr: {low: 1, high: 2}\n  strategy.stop_atr: {low: 2, high: 3}\n"
    with pytest.raises(SpaceError, match=r"duplicate key 'strategy\.stop_atr'"):
        space_of(tmp_path, base, text)
