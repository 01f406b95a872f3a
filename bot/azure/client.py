"""Builds the ContainerServiceClient the ARM adapter (mesh.py) is given, and fixes who retries.

Who retries what, so that nothing is retried twice over:
- the SDK retries reads (GET, list, operation status) on connection errors, 408/429/5xx up to
  `retry_total` times with a short backoff, but never sleeps out a Retry-After longer than
  `MAX_SDK_WAIT` (azure-core would wait any Retry-After, on any status >= 400, inside a worker);
- the adapter sends its PUT with `retry_total=0`: only the workflow knows, from its recorded
  intent and `observe()`, whether a PUT landed. The one exception is a 412 to its If-Match
  PUT, which ARM answers before applying anything: the adapter itself reads the cluster again
  and resends (a few times, bot/azure/mesh.py);
- whatever is left becomes RetryLater(delay) and the workflow runs the step again later.
"""

from __future__ import annotations

from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.pipeline import PipelineResponse
from azure.core.pipeline.policies import RetryPolicy
from azure.mgmt.containerservice import ContainerServiceClient

READ_RETRIES = 3
BACKOFF_MAX = 10
MAX_SDK_WAIT = 10.0  # seconds; a longer Retry-After is handed to the workflow as RetryLater
# azure-core waits 300 s for both by default; a hung ARM must not hold a worker that long.
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60


class ShortWaitRetryPolicy(RetryPolicy[Any, Any]):
    """azure-core's RetryPolicy, except that it gives up at once on a long Retry-After."""

    def __init__(self, max_wait: float = MAX_SDK_WAIT, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_wait = max_wait

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        wait = self.get_retry_after(response)
        if wait is not None and wait > self.max_wait:
            return False
        return bool(super().is_retry(settings, response))


def build_client(
    subscription_id: str,
    credential: TokenCredential | None = None,
    base_url: str | None = None,
    connection_verify: str | bool | None = None,
    polling_interval: float | None = None,
    *,
    retry_total: int = READ_RETRIES,
) -> ContainerServiceClient:
    """A ContainerServiceClient; DefaultAzureCredential (workload identity in AKS) by default.

    `connection_verify` is a CA bundle path (the simulator's test CA) or a bool;
    `polling_interval` matters only to callers that let the SDK poll (the adapter never does).
    """
    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    retry = ShortWaitRetryPolicy(retry_total=retry_total, retry_backoff_max=BACKOFF_MAX)
    options: dict[str, Any] = {"retry_policy": retry, "connection_timeout": CONNECT_TIMEOUT,
                               "read_timeout": READ_TIMEOUT}
    if connection_verify is not None:
        options["connection_verify"] = connection_verify
    if polling_interval is not None:
        options["polling_interval"] = polling_interval
    if base_url is not None:
        return ContainerServiceClient(credential, subscription_id, base_url, **options)
    return ContainerServiceClient(credential, subscription_id, **options)
