"""Slack's and the scheduler's way into the bot: Bolt listeners (commands, button clicks) and
the scheduler's jobs, each kind with one routing table (the App Home: handlers/home.py).
Listeners parse, ack within Slack's 3 s and hand the work to the bot's services; nothing
here decides policy. Imports bot.runtime and below; only the composition root (bot/cli/)
imports handlers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.runtime.services import Services


def register(app: App, services: Services) -> None:
    """Every listener on `app` and every job route on the services' scheduler."""
    from handlers import actions, commands, fleet, home, jobs

    commands.register(app, services)
    actions.register(app, services)
    fleet.register(app, services)
    home.register(app, services)
    jobs.register(services)
