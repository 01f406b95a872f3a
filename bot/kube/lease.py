"""Leader election on a coordination.k8s.io Lease: with several replicas, one does the work.

Every replica answers Slack; only the one holding the Lease (`mesh-upgrade-bot-leader` in the
bot's namespace) drives runs and runs the scheduler's jobs. The kubernetes client's
`leaderelection` does the acquire and renew loop on its `LeaseLock`; `Elector` adds what that
loop lacks: a way to stop (the Lease is released, so the other replica takes over at its next
retry instead of after the lease duration), losing leadership at the first read that names
another holder (the library would keep "leading" until its renew deadline), and becoming a
follower again after a lost lease (the library's `run()` returns for good).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client as kube_client
from kubernetes.client.exceptions import ApiException
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from bot.config.identity import bot_namespace, replica_identity
from bot.config.settings import LeaderElectionConfig

log = logging.getLogger(__name__)

Callback = Callable[[], None]








@dataclass(frozen=True)
class ElectionSettings:
    namespace: str
    name: str
    identity: str
    lease_duration: int = 15  # seconds; the client writes leaseDurationSeconds as an integer
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    @classmethod
    def of(cls, cfg: LeaderElectionConfig, identity: str | None = None) -> ElectionSettings:
        return cls(bot_namespace(cfg.namespace), cfg.lease_name, identity or replica_identity(),
                   int(cfg.lease_duration.total_seconds()), cfg.renew_deadline.total_seconds(),
                   cfg.retry_period.total_seconds())


class _Stopped(Exception):
    """Raised inside the library's loops to leave them: the elector stops or lost the Lease."""


class _Term:
    """One `LeaderElection.run()`: its callbacks must not act once it is over."""

    def __init__(self) -> None:
        self.over = False


class _Lock:
    """The client's LeaseLock on our ApiClient, refusing to act once the elector stops, and
    telling the elector at once when a read shows another holder while it leads."""

    def __init__(self, elector: Elector, api: kube_client.ApiClient) -> None:
        s = elector.settings
        self._elector, self._lease = elector, LeaseLock(  # type: ignore[no-untyped-call]
            s.name, s.namespace, s.identity)
        self._lease.api_instance = kube_client.CoordinationV1Api(api)
        self.name, self.namespace, self.identity = s.name, s.namespace, s.identity

    def get(self, name: str, namespace: str) -> tuple[bool, Any]:
        self._elector.check_running()
        found, record = self._lease.get(name, namespace)  # type: ignore[no-untyped-call]
        if found and record.holder_identity not in (None, self.identity):
            self._elector.another_holds(str(record.holder_identity))
        return found, record

    def create(self, name: str, namespace: str, election_record: Any) -> bool:
        self._elector.check_running()
        return bool(self._lease.create(  # type: ignore[no-untyped-call]
            name, namespace, election_record))

    def update(self, name: str, namespace: str, updated_record: Any) -> bool:
        self._elector.check_running()
        return bool(self._lease.update(  # type: ignore[no-untyped-call]
            name, namespace, updated_record))


class Elector:
    """Runs the election in a thread; `on_lead` and `on_lose` start and stop the active work.
    They are called one at a time, alternately, starting with `on_lead`."""

    def __init__(self, api: kube_client.ApiClient, settings: ElectionSettings,
                 on_lead: Callback, on_lose: Callback) -> None:
        self.settings, self._api = settings, api
        self._on_lead, self._on_lose = on_lead, on_lose
        self._mutex = threading.RLock()
        self._stopping = threading.Event()
        self._leading = False
        self._term = _Term()
        self._thread: threading.Thread | None = None

    def is_leader(self) -> bool:
        return self._leading

    def start(self) -> None:
        self._thread = threading.Thread(target=self._elect, name="leader-election", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the active work, then release the Lease if this replica holds it."""
        self._stopping.set()
        with self._mutex:
            was_leading = self._leading
            self._lose(self._term)
        if self._thread is not None:  # its next look at the Lease ends it: no renewal after
            self._thread.join(timeout)
        if was_leading:
            self._release()

    # --- called from the library's thread (through _Lock and the callbacks) ------------------

    def check_running(self) -> None:
        if self._stopping.is_set():
            raise _Stopped("stopping")

    def another_holds(self, holder: str) -> None:
        with self._mutex:
            if not self._leading:
                return
            log.warning("the Lease is held by %s: stop leading at once", holder)
            self._lose(self._term)
        raise _Stopped("lost the lease")

    def _elect(self) -> None:
        s = self.settings
        while not self._stopping.is_set():
            term = self._term = _Term()
            config = electionconfig.Config(  # type: ignore[no-untyped-call]
                _Lock(self, self._api), s.lease_duration, s.renew_deadline, s.retry_period,
                functools.partial(self._lead, term), functools.partial(self._lose, term))
            try:
                leaderelection.LeaderElection(config).run()  # type: ignore[no-untyped-call]
            except _Stopped:
                pass
            except Exception:  # the API server hiccuped in a way the library does not catch
                log.exception("leader election failed; trying again")
            self._lose(term)
            self._stopping.wait(s.retry_period)

    def _lead(self, term: _Term) -> None:
        with self._mutex:
            if term.over or self._stopping.is_set() or self._leading:
                return
            log.info("%s leads (Lease %s/%s)", self.settings.identity, self.settings.namespace,
                     self.settings.name)
            self._leading = True
            self._on_lead()

    def _lose(self, term: _Term) -> None:
        with self._mutex:
            term.over = True
            if not self._leading:
                return
            log.warning("%s stops leading", self.settings.identity)
            self._leading = False
            self._on_lose()

    def _release(self) -> None:
        """Leave the Lease without a holder (as client-go's ReleaseOnCancel does)."""
        api = kube_client.CoordinationV1Api(self._api)
        s = self.settings
        try:
            lease = api.read_namespaced_lease(s.name, s.namespace)
            if lease.spec is None or lease.spec.holder_identity != s.identity:
                return
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            api.replace_namespaced_lease(s.name, s.namespace, lease)
            log.info("%s released the Lease", s.identity)
        except (ApiException, OSError) as exc:  # it expires on its own
            log.warning("could not release the Lease: %s", exc)
