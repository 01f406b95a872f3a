"""bot/prom against Debian's real Prometheus scraping Istio-style counters of known rates, and
against stub query APIs for what Prometheus will not do on demand (503, hanging, 401, TLS):
three queries per read whatever the number of workloads, the right figures, and every failure
a MetricsUnavailable that names the source, soon."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme

from bot.azure.connect import ArmEndpoint
from bot.config.gates import MetricsSourceConfig, SourceKind
from bot.config.settings import ClusterConfig
from bot.prom.source import PrometheusTraffic, connect_traffic
from bot.runtime.doctor_traffic import check_traffic
from bot.traffic.signals import Window, WorkloadKey
from bot.upgrade.errors import Cause, MetricsUnavailable
from tests.prom_env import (
    Series,
    Stub,
    free_port,
    istio_endpoint,
    prometheus,
    prometheus_binary,
    stub_api,
    vector,
)

WINDOW = 3.0
AKS1 = {"cluster": "aks-1"}
SERIES = [
    Series("shop", "cart.v2", {"200": 9.0, "503": 1.0}, 100.0, AKS1),
    Series("shop", "cartXv2", {"200": 50.0}, 1000.0, AKS1),  # what an unescaped `.` matches
    Series("pay", "api", {"200": 5.0}, 500.0, AKS1),
    Series("pay", "cart.v2", {"200": 2.0}, 25.0, AKS1),  # pay's namespace, shop's name
    Series("pay", "idle", {"200": 0.0}, 100.0, AKS1),
    Series("shop", "cart.v2", {"200": 100.0}, 1000.0, {"cluster": "aks-2"}),
    Series("shop", "cart.v2", {"200": 70.0}, 25.0, AKS1, reporter="source"),
]
CART, API, IDLE = WorkloadKey("shop", "cart.v2"), WorkloadKey("pay", "api"), \
    WorkloadKey("pay", "idle")


def source(url: str, **settings: object) -> PrometheusTraffic:
    return connect_traffic(MetricsSourceConfig.model_validate({"url": url, **settings}))


def now_window(seconds: float = WINDOW) -> Window:
    return Window(datetime.now(UTC), seconds)


@pytest.fixture(scope="module")
def prom_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with istio_endpoint(SERIES) as target, \
            prometheus(target.removeprefix("http://"), tmp_path_factory.mktemp("prom")) as url:
        time.sleep(WINDOW + 1.0)  # a whole window of samples
        yield url


def approx(value: float, expected: float) -> bool:
    return abs(value - expected) <= 0.2 * expected  # increase() extrapolates to the edges


def test_three_queries_give_requests_errors_and_p99_of_each_workload(prom_url: str) -> None:
    traffic = source(prom_url, labels=AKS1)
    got = traffic.read([CART, API, IDLE, WorkloadKey("pay", "ghost")], now_window())
    assert traffic.queries == 3
    assert set(got) == {CART, API, IDLE}  # no series at all: absent
    assert approx(got[CART].requests, 10.0 * WINDOW) and approx(got[CART].errors, WINDOW)
    assert got[CART].p99_ms == pytest.approx(99.5)  # 50 + 0.99 x (100 - 50)
    assert approx(got[API].requests, 5.0 * WINDOW) and got[API].errors == 0.0
    assert got[API].p99_ms == pytest.approx(497.5)
    assert got[IDLE].requests == 0.0 and got[IDLE].p99_ms is None  # NaN: no requests
    assert got[CART].seconds == WINDOW


def test_dots_in_names_are_literal_and_crossed_pairs_are_dropped(prom_url: str) -> None:
    got = source(prom_url, labels=AKS1).read([CART, API], now_window())
    # cartXv2 (50 rps) would match an unescaped `cart.v2`; pay/cart.v2 matches both regexes
    assert set(got) == {CART, API}
    assert approx(got[CART].requests, 10.0 * WINDOW)


def test_configured_labels_select_the_cluster(prom_url: str) -> None:
    shared = source(prom_url).read([CART], now_window())[CART]
    mine = source(prom_url, labels=AKS1).read([CART], now_window())[CART]
    other = source(prom_url, labels={"cluster": "aks-2"}).read([CART], now_window())[CART]
    assert approx(mine.requests, 10.0 * WINDOW) and approx(other.requests, 100.0 * WINDOW)
    assert approx(shared.requests, 110.0 * WINDOW)  # reporter="source" never counts


def test_two_hundred_workloads_are_still_three_queries(prom_url: str) -> None:
    many = [CART, *(WorkloadKey(f"team-{i % 20}", f"svc-{i}.web") for i in range(199))]
    traffic = source(prom_url, labels=AKS1)
    got = traffic.read(many, now_window())
    assert traffic.queries == 3 and set(got) == {CART}


def test_probe_counts_istio_series_for_the_labels(prom_url: str) -> None:
    assert source(prom_url, labels=AKS1).probe().istio_series == 6  # 5 workloads, 6 codes
    empty = source(prom_url, labels={"cluster": "nowhere"}).probe()
    assert empty.answered and empty.istio_series == 0


def doctor_rows(url: str, labels: dict[str, str]) -> list[tuple[str, str, str]]:
    cfg = ClusterConfig.model_validate({
        "name": "prod", "subscription_id": "00000000-0000-0000-0000-000000000000",
        "resource_group": "rg", "cluster_name": "aks", "channel": "C0123ABCD",
        "approvals": {"default": {"users": ["U0ALICE"]}},
        "traffic": {"source": {"url": url, "labels": labels, "retries": 0}}})
    rows: list[tuple[str, str, str]] = []
    check_traffic(cfg, ArmEndpoint(), lambda c, ok, d: rows.append((c, "ok" if ok else "FAIL",
                                                                     d)),
                  lambda c, d: rows.append((c, "warn", d)))
    return rows


def test_doctor_finds_the_source_and_its_istio_series(prom_url: str) -> None:
    assert doctor_rows(prom_url, AKS1) == [
        ("traffic prod: source", "ok", f"Prometheus at {prom_url} answers"),
        ("traffic prod: istio series", "ok",
         "6 istio_requests_total series (reporter=destination) for labels {'cluster': 'aks-1'}")]
    (_, (check, status, detail)) = doctor_rows(prom_url, {"cluster": "aks-9"})
    assert (check, status) == ("traffic prod: istio series", "warn")
    assert detail.startswith("no istio_requests_total for labels {'cluster': 'aks-9'}: is "
                             "Prometheus scraping the proxies (Istio's merged metrics on port "
                             "15020)")


def test_doctor_says_how_to_fix_an_unreachable_source() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    [(check, status, detail)] = doctor_rows(url, {})
    assert (check, status) == ("traffic prod: source", "FAIL")
    assert detail.startswith(f"Prometheus at {url}: no connection (")
    assert "Check traffic.source.url" in detail


def test_a_bad_query_is_refused_once_with_prometheus_words(prom_url: str) -> None:
    traffic = source(prom_url, labels={"bad-label": "x"}, retries=3)  # not a label name
    with pytest.raises(MetricsUnavailable) as caught:
        traffic.read([CART], now_window())
    assert traffic.queries == 1  # not retried
    assert caught.value.message.startswith(f"Prometheus at {prom_url}: the query was refused, "
                                           "HTTP 400: bad_data: ")
    assert "traffic.source.labels" in caught.value.hint


def test_a_closed_port_fails_after_bounded_retries_in_about_1_5_s() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    causes: list[Cause] = []
    traffic = connect_traffic(MetricsSourceConfig(url=url, retries=2), on_error=causes.append)
    started = time.monotonic()
    with pytest.raises(MetricsUnavailable) as caught:
        traffic.read([CART], now_window())
    took = time.monotonic() - started
    assert 1.4 <= took < 3.0, took  # 0.5 s + 1 s of backoff, refusals are instant
    assert traffic.queries == 3 and causes == [Cause.NETWORK]
    assert caught.value.message.startswith(f"Prometheus at {url}: no connection (")
    assert caught.value.message.endswith("(3 attempts).")
    assert "traffic.source.url" in caught.value.hint


def test_no_answer_in_time_is_a_timeout_retried_once() -> None:
    stub = Stub([(200, vector())], delay=3.0)
    with stub_api(stub) as url:
        traffic = connect_traffic(MetricsSourceConfig(url=url, retries=1,
                                                      timeout=timedelta(seconds=1)))
        started = time.monotonic()
        with pytest.raises(MetricsUnavailable) as caught:
            traffic.read([CART], now_window())
        took = time.monotonic() - started
    assert 2.4 <= took < 4.0, took  # 1 s + 0.5 s + 1 s
    assert "no answer within 1 s (timeout) (2 attempts)" in caught.value.message
    assert stub.forms[0]["timeout"] == ["1s"]


def test_a_503_is_retried_and_the_answer_after_it_used() -> None:
    busy = (503, {"status": "error", "errorType": "unavailable", "error": "busy"})
    stub = Stub([busy, busy, (200, vector(({"destination_workload_namespace": "shop",
                                             "destination_workload": "cart.v2"}, 42)))])
    with stub_api(stub) as url:
        traffic = source(url, retries=2)
        got = traffic.read([CART], Window(datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), 2.5))
    assert got[CART].requests == 42.0 and traffic.queries == 5  # 2 retries, then 2 more
    assert stub.forms[0]["time"] == ["1735787045.000"]
    assert "[3s]" in stub.forms[0]["query"][0]  # 2.5 s rounded up


def test_the_bearer_token_comes_from_the_named_variable_and_is_never_shown() -> None:
    refused = (401, {"status": "error", "errorType": "unauthorized", "error": "bad token"})
    stub = Stub([(200, vector()), (200, vector()), (200, vector()), refused])
    settings = MetricsSourceConfig(url="http://x", bearer_token_env="PROM_TOKEN", retries=2)
    with stub_api(stub) as url:
        cfg = settings.model_copy(update={"url": url})
        traffic = connect_traffic(cfg, env={"PROM_TOKEN": "s3cret"})
        assert traffic.read([CART], now_window()) == {}
        with pytest.raises(MetricsUnavailable) as caught:
            traffic.read([CART], now_window())
    assert stub.authorizations[:4] == ["Bearer s3cret"] * 4
    assert traffic.queries == 4  # the 401 is not retried
    assert "HTTP 401: unauthorized: bad token" in caught.value.message
    assert "PROM_TOKEN" in caught.value.hint and "s3cret" not in str(caught.value)


def test_a_missing_token_variable_is_named_and_nothing_is_sent() -> None:
    cfg = MetricsSourceConfig(url="http://127.0.0.1:9", bearer_token_env="PROM_TOKEN")
    traffic = connect_traffic(cfg, env={})
    with pytest.raises(MetricsUnavailable, match="PROM_TOKEN"):
        traffic.read([CART], now_window())
    assert traffic.queries == 0


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


def test_azure_monitor_uses_a_cached_entra_token_over_verified_tls(
        test_ca: tuple[trustme.CA, Path]) -> None:
    ca, ca_path = test_ca
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    scopes: list[str] = []

    def tokens(scope: str) -> tuple[str, float]:
        scopes.append(scope)
        return f"entra-{len(scopes)}", time.time() + 3600

    forbidden = (403, {"error": {"code": "Forbidden", "message": "no role"}})
    stub = Stub([(200, vector())] * 3 + [forbidden])
    with stub_api(stub, context) as url:
        cfg = MetricsSourceConfig(kind=SourceKind.AZURE_MONITOR, url=url)
        traffic = connect_traffic(cfg, tokens, env={"REQUESTS_CA_BUNDLE": str(ca_path)})
        traffic.read([CART], now_window())
        with pytest.raises(MetricsUnavailable) as caught:
            traffic.read([CART], now_window())
    assert scopes == ["https://prometheus.monitor.azure.com/.default"]  # one token, cached
    assert stub.authorizations == ["Bearer entra-1"] * 4
    assert caught.value.message == (f"Azure Monitor workspace {url}: HTTP 403: Forbidden: "
                                    "no role.")
    assert "Monitoring Data Reader" in caught.value.hint


def test_an_untrusted_certificate_is_not_retried(test_ca: tuple[trustme.CA, Path]) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca[0].issue_cert("127.0.0.1").configure_cert(context)
    with stub_api(Stub([(200, vector())]), context) as url:
        traffic = connect_traffic(MetricsSourceConfig(url=url, retries=2), env={})
        with pytest.raises(MetricsUnavailable, match="TLS failed") as caught:
            traffic.read([CART], now_window())
    assert traffic.queries == 1 and "REQUESTS_CA_BUNDLE" in caught.value.hint


def test_meshsim_traffic_through_the_azure_monitor_front_with_the_bot_s_entra_token(
        tmp_path: Path) -> None:
    prometheus_binary()
    from meshsim.prometheus import PrometheusServer
    from meshsim.sim import MeshSim
    from tests.sim_bot import sim_arm

    details, product = WorkloadKey("default", "details-v1"), WorkloadKey("default",
                                                                         "productpage-v1")
    with MeshSim("bookinfo", speed=20.0, workdir=tmp_path / "sim") as sim, \
            PrometheusServer(sim.describe()["telemetry"], tmp_path / "prom") as prom:
        sim.start_azure_monitor(prom.url)
        described = sim.describe()
        front = described["azure_monitor"]
        cfg = MetricsSourceConfig(kind=SourceKind.AZURE_MONITOR, url=front["query_endpoint"],
                                  labels={"cluster": "aks-sandbox"})
        traffic = connect_traffic(cfg, sim_arm(described).kube_tokens(),
                                  ca_file=front["ca_file"])
        time.sleep(4.0)  # a window of scrapes (1 s apart)
        healthy = traffic.read([details, product], now_window())
        sim.clusters["aks-sandbox"].set_bad_proxy("asm-1-22", 0.2, 250)
        time.sleep(4.0)  # the window has moved past the fault's start
        faulty = traffic.read([details, product], now_window())
    assert traffic.queries == 6 and set(healthy) == set(faulty) == {details, product}
    assert healthy[details].requests > 0 and (healthy[details].success_rate or 0.0) > 99.0
    assert 70.0 < (faulty[details].success_rate or 0.0) < 90.0  # 20 % of requests fail
    assert (faulty[details].p99_ms or 0.0) > (healthy[details].p99_ms or 0.0) + 150
