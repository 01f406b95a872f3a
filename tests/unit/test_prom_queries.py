"""The traffic gates' PromQL as text, its escaping and chunking, and Prometheus' answers read
back into Signals (bot/prom/queries.py, bot/prom/api.py's pure parts, the token cache)."""

from __future__ import annotations

import math
import time

import pytest

from bot.prom.api import samples, tls_options
from bot.prom.auth import AZURE_MONITOR_SCOPE, EntraBearer
from bot.prom.queries import (
    body_size,
    chunks,
    escape_regex,
    istio_series_query,
    queries_for,
    quote,
    range_of,
    signals_of,
)
from bot.traffic.signals import Signals, WorkloadKey
from bot.upgrade.errors import GiveUp, MetricsUnavailable

A, B = WorkloadKey("shop", "cart.v2"), WorkloadKey("pay", "api")


def test_the_three_queries_read_as_istio_dashboards_write_them() -> None:
    q = queries_for([A, B], 300.0, {"cluster": "aks-1"})
    sel = ('reporter="destination", destination_workload_namespace=~"pay|shop", '
           'destination_workload=~"api|cart\\\\.v2"')
    assert q.requests == ("sum by (destination_workload_namespace, destination_workload) "
                          f'(increase(istio_requests_total{{{sel}, cluster="aks-1"}}[300s]))')
    assert q.errors == ("sum by (destination_workload_namespace, destination_workload) "
                        f'(increase(istio_requests_total{{{sel}, response_code=~"5..", '
                        'cluster="aks-1"}[300s]))')
    assert q.p99 == ("histogram_quantile(0.99, sum by (destination_workload_namespace, "
                     "destination_workload, le) (increase(istio_request_duration_milliseconds_"
                     f'bucket{{{sel}, cluster="aks-1"}}[300s])))')


def test_regex_metacharacters_are_escaped_and_strings_quoted() -> None:
    assert escape_regex("a.b-c") == "a\\.b-c"
    assert escape_regex("x+(y)|[z]{1}^$*?\\") == "x\\+\\(y\\)\\|\\[z\\]\\{1\\}\\^\\$\\*\\?\\\\"
    assert quote('say "hi"\\\n') == '"say \\"hi\\"\\\\\\n"'


def test_label_values_are_quoted_exactly() -> None:
    assert istio_series_query({"cluster": 'a"b', "env": "prod"}) == (
        'count(istio_requests_total{reporter="destination", cluster="a\\"b", env="prod"})')


@pytest.mark.parametrize(("seconds", "shown"), [(300.0, "300s"), (2.5, "3s"), (0.2, "1s"),
                                                (299.0001, "300s")])
def test_windows_are_whole_seconds_rounded_up(seconds: float, shown: str) -> None:
    assert range_of(seconds) == shown


def test_two_hundred_workloads_fit_one_chunk_and_duplicates_count_once() -> None:
    many = [WorkloadKey(f"team-{i % 20}", f"svc-{i}-" + "x" * 40) for i in range(200)]
    assert chunks(many + many, 300.0, {}) == [sorted(many)]


def test_a_list_too_long_for_one_body_is_split_into_chunks_that_fit() -> None:
    many = [WorkloadKey(f"ns-{i}", f"svc-{i}") for i in range(400)]
    got = chunks(many, 60.0, {}, limit=4000)
    assert len(got) > 1 and sorted(k for c in got for k in c) == sorted(many)
    assert all(body_size(queries_for(c, 60.0, {}).p99) <= 4000 for c in got)


def test_signals_keep_asked_pairs_only_and_fill_what_is_missing() -> None:
    def row(ns: str, name: str, value: float) -> tuple[dict[str, str], float]:
        return {"destination_workload_namespace": ns, "destination_workload": name}, value

    got = signals_of([row("shop", "cart.v2", 100.0), row("pay", "cart.v2", 7.0),
                      row("pay", "api", 0.0)],
                     [row("shop", "cart.v2", 2.0)],
                     [row("shop", "cart.v2", 99.5), row("pay", "api", math.nan)],
                     frozenset({A, B}), 60.0)
    assert got == {A: Signals(100.0, 2.0, 99.5, 60.0), B: Signals(0.0, 0.0, None, 60.0)}


def test_an_infinite_p99_is_no_figure() -> None:
    metric = {"destination_workload_namespace": "pay", "destination_workload": "api"}
    got = signals_of([(metric, 5.0)], [], [(metric, math.inf)], frozenset({B}), 60.0)
    assert got[B].p99_ms is None


def test_vectors_and_scalars_parse_with_nan() -> None:
    assert samples({"resultType": "vector", "result": [
        {"metric": {"a": "b"}, "value": [1.0, "NaN"]}]})[0][1] != 0.0
    assert samples({"resultType": "scalar", "result": [1.0, "3"]}) == [({}, 3.0)]
    with pytest.raises(ValueError, match="matrix"):
        samples({"resultType": "matrix", "result": []})


def test_tls_trusts_the_named_ca_like_requests() -> None:
    assert tls_options("http://p:9090", None, {"REQUESTS_CA_BUNDLE": "/ca.pem"}) == {}
    assert tls_options("https://p", None, {"CURL_CA_BUNDLE": "/c.pem"})["ca_certs"] == "/c.pem"
    assert tls_options("https://p", "/mine.pem", {"REQUESTS_CA_BUNDLE": "/ca.pem"}) == {
        "cert_reqs": "CERT_REQUIRED", "ca_certs": "/mine.pem"}
    assert tls_options("https://p", None, {}) == {"cert_reqs": "CERT_REQUIRED"}


def test_entra_tokens_are_kept_until_five_minutes_before_expiry() -> None:
    handed: list[float] = []

    def tokens(scope: str) -> tuple[str, float]:
        assert scope == AZURE_MONITOR_SCOPE
        handed.append(time.time())
        return f"t{len(handed)}", time.time() + (3600 if len(handed) > 1 else 299)

    bearer = EntraBearer(tokens, "Azure Monitor workspace https://w")
    assert bearer() == "Bearer t1"
    assert bearer() == "Bearer t2"  # t1 expires within 5 minutes: replaced
    assert bearer() == "Bearer t2" and len(handed) == 2


def test_an_entra_refusal_becomes_metrics_unavailable_with_its_hint() -> None:
    def tokens(scope: str) -> tuple[str, float]:
        raise GiveUp("AADSTS700016: no such app", "Check the bot's Azure identity.")

    with pytest.raises(MetricsUnavailable) as caught:
        EntraBearer(tokens, "Azure Monitor workspace https://w")()
    assert caught.value.message == ("Azure Monitor workspace https://w: no Entra ID token for "
                                    f"{AZURE_MONITOR_SCOPE}: AADSTS700016: no such app")
    assert caught.value.hint == "Check the bot's Azure identity."
