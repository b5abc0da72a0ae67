"""The supervisor's signal handler: `timeout -s INT` and `kill -INT -- -PGID` deliver one stop request twice (to
the process and to its group) within milliseconds; that is one request, not the "exit now" of a second Ctrl-C,
which still comes when a signal follows the first by a second or more."""

from __future__ import annotations

import signal
from types import SimpleNamespace

import pytest

from omni.engine import supervisor as sup_mod
from omni.engine.supervisor import EXIT_SECOND_SIGNAL, REPEAT_SIGNAL_S, Supervisor


class Log:
    def __init__(self):
        self.events: list[str] = []

    def __getattr__(self, level):
        return lambda event, **kw: self.events.append(event)


class Exited(Exception):
    pass


@pytest.fixture
def sup(monkeypatch):
    clock = {"t": 100.0}
    monkeypatch.setattr(sup_mod, "monotonic", lambda: clock["t"])

    def exit_now(code):
        raise Exited(code)

    monkeypatch.setattr(sup_mod.os, "_exit", exit_now)
    asm = SimpleNamespace(cfg=SimpleNamespace(engine=SimpleNamespace(on_shutdown="close")),
                          pipeline=SimpleNamespace(entries_enabled=True))  # fmt: skip
    s = Supervisor(asm, Log())  # type: ignore[arg-type]
    return s, clock


def test_a_signal_repeated_within_a_second_is_the_same_request(sup):
    s, clock = sup
    s._on_signal(signal.SIGINT)
    clock["t"] += 0.01
    s._on_signal(signal.SIGINT)  # the group's copy
    clock["t"] += REPEAT_SIGNAL_S * 0.9
    s._on_signal(signal.SIGTERM)
    assert s.stop.is_set() and not s.asm.pipeline.entries_enabled
    assert s.log.events == ["shutdown_requested", "signal_repeated", "signal_repeated"]


def test_a_second_signal_after_a_second_exits_at_once(sup):
    s, clock = sup
    s._on_signal(signal.SIGINT)
    clock["t"] += REPEAT_SIGNAL_S + 0.01
    with pytest.raises(Exited) as e:
        s._on_signal(signal.SIGINT)
    assert e.value.args == (EXIT_SECOND_SIGNAL,) and s.log.events[-1] == "second_signal_exit_now"
