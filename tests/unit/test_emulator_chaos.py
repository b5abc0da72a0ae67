"""Chaos options of the emulator: seeded schedules, validation, the words printed at start, the CLI flags."""

from __future__ import annotations

import itertools

import pytest

from omni.cli import build_parser
from omni.emulator.chaos import JITTER, Chaos, ChaosConfig


def firsts(chaos: Chaos, kind: str, every: float, n: int = 20) -> list[float]:
    return list(itertools.islice(chaos.schedule(kind, every), n))


def test_same_seed_same_schedule_and_another_seed_another():
    a = firsts(Chaos(ChaosConfig(seed=7)), "ws_drop", 30)
    b = firsts(Chaos(ChaosConfig(seed=7)), "ws_drop", 30)
    c = firsts(Chaos(ChaosConfig(seed=8)), "ws_drop", 30)
    assert a == b
    assert a != c
    assert all(30 * (1 - JITTER) <= w <= 30 * (1 + JITTER) for w in a + c)
    assert len(set(a)) == len(a)  # jittered, not a fixed period


def test_a_fault_stream_does_not_depend_on_the_other_faults():
    quiet = Chaos(ChaosConfig(seed=3))
    busy = Chaos(ChaosConfig(seed=3, rest_fail_rate=0.5, latency_ms=100))
    for _ in range(50):  # requests and frames drawing from their own streams meanwhile
        busy.roll("rest_fail", 0.5)
        busy.latency_s()
    assert firsts(quiet, "private_gap", 10) == firsts(busy, "private_gap", 10)
    assert [quiet.roll("reply_lost", 0.3) for _ in range(50)] == [busy.roll("reply_lost", 0.3) for _ in range(50)]


def test_rolls_repeat_with_the_seed_and_follow_the_rate():
    def draws(seed: int) -> list[bool]:
        chaos = Chaos(ChaosConfig(seed=seed))
        return [chaos.roll("rest_fail", 0.25) for _ in range(2000)]

    assert draws(1) == draws(1)
    assert 0.2 < sum(draws(1)) / 2000 < 0.3
    chaos = Chaos(ChaosConfig())
    assert not any(chaos.roll("rest_fail", 0.0) for _ in range(100))
    assert all(chaos.roll("rest_fail", 1.0) for _ in range(100))


def test_latency_is_jittered_half_to_one_and_a_half_times():
    chaos = Chaos(ChaosConfig(latency_ms=100))
    delays = [chaos.latency_s() for _ in range(1000)]
    assert all(0.05 <= d <= 0.15 for d in delays)
    assert 0.095 < sum(delays) / len(delays) < 0.105
    assert Chaos(ChaosConfig()).latency_s() == 0.0


def test_default_is_all_off():
    cfg = ChaosConfig()
    assert not cfg.active and cfg.describe() == [] and cfg.timers == {}


def test_describe_lists_the_active_faults():
    cfg = ChaosConfig(ws_drop_every=30, reply_lost_rate=0.05, private_gap_every=60, private_gap_seconds=3)
    assert cfg.describe() == ["ws-drop every 30s", "private-gap 3s every 60s", "reply-lost 5%"]
    assert cfg.timers == {"ws_drop": 30, "private_gap": 60}


@pytest.mark.parametrize(
    "kw",
    [{"rest_fail_rate": 1.5}, {"reply_lost_rate": -0.1}, {"cancel_market_rate": float("nan")},
     {"ws_drop_every": -1}, {"latency_ms": float("nan")}, {"ws_stall_seconds": 0}, {"rate_limit_seconds": -2}],
)  # fmt: skip
def test_bad_values_are_refused(kw):
    with pytest.raises(ValueError, match="chaos"):
        ChaosConfig(**kw)


def test_cli_flags_map_onto_the_config_and_bad_values_are_usage_errors(capsys):
    args = build_parser().parse_args(
        ["emulator", "--chaos-seed", "9", "--chaos-ws-drop-every", "30", "--chaos-reply-lost-rate", "0.05",
         "--chaos-private-gap-every", "20", "--chaos-private-gap-seconds", "2", "--chaos-latency-ms", "50"]
    )  # fmt: skip
    assert (args.chaos_seed, args.chaos_ws_drop_every, args.chaos_reply_lost_rate) == (9, 30.0, 0.05)
    assert (args.chaos_private_gap_seconds, args.chaos_latency_ms, args.chaos_rest_fail_rate) == (2.0, 50.0, 0.0)
    assert args.chaos_ws_stall_every is None and args.chaos_rate_limit_seconds == 1.0
    for bad in (["--chaos-rest-fail-rate", "1.2"], ["--chaos-cancel-market-rate", "x"],
                ["--chaos-ws-stall-every", "0"], ["--chaos-rate-limit-seconds", "-1"]):  # fmt: skip
        with pytest.raises(SystemExit) as e:
            build_parser().parse_args(["emulator", *bad])
        assert e.value.code == 2
        assert bad[0] in capsys.readouterr().err
