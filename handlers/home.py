"""The App Home tab: `app_home_opened` is acked at once and the person's view is published
from the bot's workers (bot/runtime/home_tabs.py); the Messages tab is not the bot's business.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.runtime.services import Services

if TYPE_CHECKING:
    from slack_bolt import Ack, App


def register(app: App, services: Services) -> None:
    def handle_home_opened_event(ack: Ack, event: dict[str, Any]) -> None:
        ack()
        user = event.get("user")
        if event.get("tab") == "home" and isinstance(user, str) and user:
            services.submit(None, services.home.opened, user)

    app.event("app_home_opened")(handle_home_opened_event)
