"""Relay addresses, circuit breakers and the adaptive rate, on a clock the tests move."""

from __future__ import annotations

import pytest

from justmaily.server.delivery.transport.relays import AdaptiveRate, BreakerState, CircuitBreaker
from justmaily.server.settings import Settings
from justmaily.server.settings.relay_urls import RelayUrlError, parse_relay_list, parse_relay_url


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def state_of(breaker: CircuitBreaker) -> BreakerState:
    return breaker.state  # read anew each time (mypy would narrow a repeated `breaker.state`)


def test_relay_addresses_parse_and_hide_their_password() -> None:
    relay = parse_relay_url("smtp://mailer:s%40cret@smtp.example.com:587")
    assert (relay.host, relay.port, relay.implicit_tls) == ("smtp.example.com", 587, False)
    assert (relay.username, relay.password) == ("mailer", "s@cret")
    assert relay.url == "smtp://smtp.example.com:587"
    assert "s@cret" not in repr(relay)
    assert parse_relay_url("smtps://[::1]").url == "smtps://[::1]:465"
    assert [r.name for r in parse_relay_list("smtp://a.example, smtps://b.example")] == ["env-1", "env-2"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://relay.example", "smtp:// or smtps://"),
        ("smtp://", "no host"),
        ("smtp://relay.example/path", "no path"),
        ("smtp://relay.example:99999", "not a relay address"),
    ],
)
def test_bad_relay_addresses_are_refused_with_a_reason(url: str, says: str) -> None:
    with pytest.raises(RelayUrlError, match=says):
        parse_relay_url(url)


def test_a_bad_relay_in_the_environment_stops_start_up_naming_it() -> None:
    with pytest.raises(ValueError, match="relay 2 of JUSTMAILY_SMTP_RELAYS"):
        Settings.of(smtp_relays="smtp://good.example,ftp://bad.example")
    redacted = Settings.of(smtp_relays="smtp://u:topsecret@relay.example").redacted()
    assert "topsecret" not in str(redacted)


def test_the_breaker_opens_probes_once_and_backs_off() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown=10, max_cooldown=40, clock=clock)
    for _ in range(2):
        breaker.failed("timeout")
    assert state_of(breaker) is BreakerState.CLOSED
    breaker.failed("timeout")
    assert state_of(breaker) is BreakerState.OPEN
    assert not breaker.allow()
    clock.now += 10
    assert state_of(breaker) is BreakerState.HALF_OPEN
    assert breaker.allow()  # one probe
    assert not breaker.allow()  # and only one
    breaker.failed("still down")
    assert breaker.seconds_until_probe() == 20  # the cooldown doubled
    clock.now += 20
    assert breaker.allow()
    breaker.succeeded()
    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.allow()
    assert breaker.last_error == ""


def test_the_rate_halves_when_the_relay_pushes_back_and_creeps_up_again() -> None:
    clock = Clock()
    rate = AdaptiveRate(None, clock=clock)
    assert rate.delay() == 0  # no limit until the relay asks for one
    for _ in range(11):  # sending at 100 a second
        rate.recovered()
        clock.now += 0.01
    rate.slow_down()
    assert rate.rate == pytest.approx(50)
    rate.slow_down()
    assert rate.rate == pytest.approx(25)
    taken = sum(1 for _ in range(10) if rate.delay() == 0)
    assert taken < 10  # a token bucket: a burst is cut off
    assert rate.delay() > 0
    for _ in range(20):
        rate.recovered()
    assert rate.rate == pytest.approx(35)  # additive increase: half a message per second per success
    ceiling = AdaptiveRate(10, clock=clock)
    for _ in range(100):
        ceiling.recovered()
    assert ceiling.rate == 10  # never above the configured ceiling
    floor = AdaptiveRate(2, floor=1, clock=clock)
    for _ in range(5):
        floor.slow_down()
    assert floor.rate == 1
