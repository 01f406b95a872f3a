"""The channel page: served at `/` with the element ids browser tests rely on."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

import meshsim.slack
from meshsim.slack.testing import RunningSlack

STATIC = Path(meshsim.slack.__file__).parent / "static"


def fetch(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.headers.get_content_type(), resp.read().decode()


def test_page_has_the_user_switcher_composer_and_confirm_dialog(slack: RunningSlack) -> None:
    kind, html = fetch(slack.url + "/")
    assert kind == "text/html"
    for marker in ('<select id="user">', '<input id="composer"', '<dialog id="confirm">',
                   'id="confirm-ok"', 'src="/static/app.js"', 'src="/static/blocks.js"',
                   'id="home-tab"', '<main id="home"'):
        assert marker in html


def test_scripts_are_served_and_wire_buttons_to_the_control_api(slack: RunningSlack) -> None:
    kind, app_js = fetch(slack.url + "/static/app.js")
    _, blocks_js = fetch(slack.url + "/static/blocks.js")
    assert kind in ("application/javascript", "text/javascript")
    assert "/_sim/click" in app_js and "/_sim/command" in app_js and "/_sim/messages" in app_js
    assert "dataset.actionId" in blocks_js and "dataset.confirm" in blocks_js


@pytest.mark.parametrize("script", ["app.js", "blocks.js"])
def test_page_scripts_pass_nodes_syntax_check(script: str) -> None:
    subprocess.run(["node", "--check", str(STATIC / script)], check=True)


# A stub DOM just big enough for blocks.js, so node can show what a card renders to.
RENDER = """
class Node {
  constructor(tag) { this.tag = tag; this.children = []; this.dataset = {}; this.className = "";
                     this.text = ""; this.innerHTML = ""; }
  appendChild(c) { this.children.push(c); return c; }
  set textContent(t) { this.text = t; }
  all() { return [this, ...this.children.flatMap((c) => c.all())]; }
}
global.document = { createElement: (t) => new Node(t) };
eval(require("fs").readFileSync(process.argv[1], "utf8") + "\\nglobal.Blocks = Blocks;");
const nodes = Blocks.render(JSON.parse(process.argv[2]), "1700000000.000100").all();
console.log(JSON.stringify(nodes.map((n) => ({cls: n.className, data: n.dataset,
                                              html: n.innerHTML, text: n.text}))));
"""


def test_blocks_render_header_mrkdwn_and_buttons_with_their_confirm() -> None:
    confirm = {"title": {"type": "plain_text", "text": "Sure?"},
               "text": {"type": "mrkdwn", "text": "Roll *all*?"},
               "confirm": {"type": "plain_text", "text": "Roll"},
               "deny": {"type": "plain_text", "text": "Wait"}}
    card = [{"type": "header", "text": {"type": "plain_text", "text": "aks-prod"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Phase* by <@U0ALICE>"}},
            {"type": "actions", "elements": [
                {"type": "button", "action_id": "roll", "style": "danger", "value": "run-1",
                 "text": {"type": "plain_text", "text": "Roll"}, "confirm": confirm}]}]
    done = subprocess.run(["node", "-e", RENDER, str(STATIC / "blocks.js"), json.dumps(card)],
                          check=True, capture_output=True, text=True)
    nodes = json.loads(done.stdout)
    assert {"cls": "block header", "data": {}, "html": "", "text": "aks-prod"} in nodes
    assert any(n["html"] == "<b>Phase</b> by <b>@U0ALICE</b>" for n in nodes)
    (button,) = [n for n in nodes if n["data"].get("actionId") == "roll"]
    assert (button["cls"], button["text"], button["data"]["ts"]) == (
        "bk danger", "Roll", "1700000000.000100")
    assert json.loads(button["data"]["confirm"]) == confirm


@pytest.mark.parametrize("zone,shown", [("UTC", "9:41"), ("Asia/Tokyo", "6:41"),
                                        ("America/New_York", "4:41")])
def test_date_tokens_show_in_the_readers_own_zone(zone: str, shown: str) -> None:
    """`<!date^...>` as Slack shows it: the reader's zone, the fallback only as a title."""
    stamp = 1_764_841_260  # 2025-12-04 09:41:00 UTC
    token = f"<!date^{stamp}^{{date_short_pretty}} at {{time}}|2025-12-04 09:41 UTC>"
    card = [{"type": "section", "text": {"type": "mrkdwn", "text": f"Started {token}"}}]
    done = subprocess.run(["node", "-e", RENDER, str(STATIC / "blocks.js"), json.dumps(card)],
                          check=True, capture_output=True, text=True,
                          env={**os.environ, "TZ": zone, "LANG": "en_US.UTF-8"})
    (html,) = [n["html"] for n in json.loads(done.stdout) if n["html"].startswith("Started")]
    assert 'datetime="2025-12-04T09:41:00.000Z"' in html
    assert f"{shown}" in html and 'title="2025-12-04 09:41 UTC"' in html
    assert "!date" not in html.split('title="')[0]


def test_a_message_permalink_opens_that_message_on_the_page() -> None:
    """chat.getPermalink's link (a fleet card's link to a cluster's card) leads to the message
    on the page, as Slack's client opens it; any other link opens outside."""
    text = ("<https://mesh-sim.slack.com/archives/C0MESHOPS/p1796448102583932|aks-dev-1> and "
            "<https://example.com/x|docs>")
    card = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    done = subprocess.run(["node", "-e", RENDER, str(STATIC / "blocks.js"), json.dumps(card)],
                          check=True, capture_output=True, text=True)
    (html,) = [n["html"] for n in json.loads(done.stdout) if "aks-dev-1" in n["html"]]
    assert '<a href="#m1796448102-583932">aks-dev-1</a>' in html
    assert '<a href="https://example.com/x" target="_blank">docs</a>' in html
    assert 'node.id = `m${message.ts.replace(".", "-")}`' in (STATIC / "app.js").read_text()
