"""A simulated Slack workspace speaking Slack's wire protocols over real sockets.

Python: `sim = SlackSim(clock, faults)`; `port = sim.serve(simloop)` (or
`simloop.serve(sim.app())` then `sim.set_base_url(...)`); point `WebClient(base_url=sim.api_url)`
at it. Accessors for other threads: `messages(channel)`, `workspace()`, `calls(method)`,
`command(user, channel, command, text)`, `click(user, channel, ts, action_id, edit=None)`,
`set_group_users(group, users)`, `configure_app(**settings)`, `open_home(user)`, `home(user)`.

Served: `/api/<method>` (Web API), `/link/` (Socket Mode WebSocket from apps.connections.open),
`/upload/v1/<file_id>` (files v2 upload URL), `/hooks/...` (response_url), `/` (channel page).

Control API (a contract):
- `POST /_sim/command {"user","channel","command","text"}` and
  `POST /_sim/click {"user","channel","ts","action_id","edit"?}` deliver to the app (Socket Mode
  when connected, else HTTP to `request_url`) and answer `{"ok","acked","mode","ack_ms",
  "ack_sim_ms","response","status"?,"error"?,"attempts":[...],"response_url","trigger_id"}`;
  404 `{"error"}` for an unknown user, channel, message, version or button.
- `GET /_sim/messages?channel=C`: `{"channel","messages":[{...message, "history":[{"version",
  "text","blocks","at"}], "replies":[...], "files"?}], "ephemeral":[{..., "user","source"}]}`.
- `POST /_sim/home {"user"}`: the user opens the app's Home tab; `app_home_opened` is delivered
  like a command (same answer fields) plus `"view"`: the Home view published when it was
  acked (or null).
  `GET /_sim/home?user=U`: `{"user", "view": {...views.publish's view} | null}`.
- `GET /_sim/workspace`: team, bot, users, usergroups, channels (with members), tokens.
- `GET /_sim/calls[?method=chat.update]`: every Web API call
  `{"method","params","at","ok","error"}`.
- `GET|POST /_sim/app {"request_url": "http://127.0.0.1:PORT/slack/events" | null,
  "ack_timeout": 3.0 (real seconds, whatever the speed), "retries": 3, "signing_secret": str,
  "lose_acks": N (ignore the app's next N Socket Mode acks, to drive redelivery)}`.
- `POST /_sim/usergroups/{id}/users {"users": [...]}` replaces a group's members.
- `POST /_sim/socket/refresh`: send `disconnect` (refresh_requested) to every connection;
  `POST /_sim/socket/drop`: close every connection without warning.
- `POST|GET|DELETE /_sim/faults`: fault rules (meshsim.faults), e.g. 429 with Retry-After.
"""

from meshsim.slack.seed import (
    APP_TOKEN,
    APPROVERS_GROUP,
    BOT_TOKEN,
    BOT_USER_ID,
    OPS_CHANNEL,
    RANDOM_CHANNEL,
    SIGNING_SECRET,
    TEAM_ID,
)
from meshsim.slack.sim import SlackSim

__all__ = [
    "APPROVERS_GROUP",
    "APP_TOKEN",
    "BOT_TOKEN",
    "BOT_USER_ID",
    "OPS_CHANNEL",
    "RANDOM_CHANNEL",
    "SIGNING_SECRET",
    "TEAM_ID",
    "SlackSim",
]
