"""ARMPolling that polls a fixed number of times and never sleeps.

`LROPoller` runs its polling method on a thread that sleeps `polling_interval` between status
GETs until the operation ends. A bot must not keep such threads per operation, so the adapter
passes this method as `polling=`: with `steps=0` the PUT returns only a continuation token,
and with `steps=1` a poller resumed from that token makes exactly one status GET. ARM's status
body for Failed/Canceled carries `error: {code, message}`, kept here as the failure reason.
"""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import PipelineResponse
from azure.core.polling.base_polling import BadResponse, BadStatus
from azure.mgmt.core.polling.arm_polling import ARMPolling


class StepPolling(ARMPolling):
    def __init__(self, steps: int) -> None:
        super().__init__(timeout=0)
        self._steps = steps
        self._last: Any = None  # the last status response (azure.core.rest.HttpResponse)

    def run(self) -> None:
        for _ in range(self._steps):
            if self.finished():
                return
            try:
                self.update_status()
            except (BadStatus, BadResponse) as exc:
                # What LROBasePolling.run does, minus the loop: keep the HTTP status for callers.
                raise HttpResponseError(message=str(exc), response=self._last) from exc

    def request_status(self, status_link: str) -> PipelineResponse[Any, Any]:
        response: PipelineResponse[Any, Any] = super().request_status(status_link)
        self._last = response.http_response
        return response

    def failure_reason(self) -> str:
        """`code: message` from the last status body, as ARM reported the failure."""
        error = self._body().get("error")
        found = error if isinstance(error, dict) else {}
        words = [str(found[key]) for key in ("code", "message") if found.get(key)]
        return ": ".join(words) or f"The operation ended {self.status()}."

    def _body(self) -> dict[str, Any]:
        if self._last is None:
            return {}
        try:
            body = self._last.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}
