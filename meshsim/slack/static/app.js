// The channel page: polls /_sim/messages, renders it, and acts as the chosen user through
// /_sim/command and /_sim/click. Element ids (#user, #channel, #composer, #confirm-ok) are
// what browser tests use.
"use strict";

const $ = (id) => document.getElementById(id);
const { el } = Blocks;
let lastJson = "";
let users = {};

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const resp = await fetch(path, init);
  return { status: resp.status, body: await resp.json() };
}

function status(text) { $("status").textContent = text; }

function describe(result) {
  const r = result.body;
  if (result.status !== 200) return `error: ${r.error}`;
  if (!r.ok) return `failed: ${r.error}${r.status ? " (HTTP " + r.status + ")" : ""}`;
  return `${r.mode} ack in ${r.ack_ms} ms` + (r.attempts.length > 1 ? `, ${r.attempts.length} attempts` : "");
}

function meta(message, label) {
  const node = el("div", "meta");
  const who = el("b", "", users[message.user] || message.user);
  node.append(who, ` ${label || ""} ${new Date(parseFloat(message.ts) * 1000).toLocaleTimeString()}`);
  if (message.history && message.history.length > 1) {
    node.appendChild(el("span", "edited", ` (edited, ${message.history.length} versions)`));
  }
  return node;
}

function renderMessage(message, extraClass) {
  const node = el("div", `message ${extraClass || ""}`);
  node.dataset.ts = message.ts;
  node.appendChild(meta(message));
  if (message.blocks && message.blocks.length) node.appendChild(Blocks.render(message.blocks, message.ts));
  else if (message.text) { const t = el("div", "text"); t.innerHTML = Blocks.mrkdwn(message.text); node.appendChild(t); }
  (message.files || []).forEach((f) => node.appendChild(el("div", "file", `📄 ${f.title} (${f.name}, ${f.size} bytes)`)));
  return node;
}

function renderEphemeral(e) {
  const node = renderMessage({ ...e, user: "U0MESHBOT" }, "ephemeral");
  node.insertBefore(el("div", "only", "Only visible to you"), node.firstChild);
  return node;
}

function render(data) {
  const me = $("user").value;
  const mine = data.ephemeral.filter((e) => e.user === me);
  const list = $("messages");
  list.replaceChildren();
  const items = [
    ...data.messages.map((m) => ({ ts: m.ts, node: () => renderThread(m, mine) })),
    ...mine.filter((e) => !e.thread_ts).map((e) => ({ ts: e.ts, node: () => renderEphemeral(e) })),
  ].sort((a, b) => parseFloat(a.ts) - parseFloat(b.ts));
  items.forEach((item) => list.appendChild(item.node()));
}

function renderThread(message, mine) {
  const node = renderMessage(message);
  const replies = [
    ...(message.replies || []).map((r) => ({ ts: r.ts, node: () => renderMessage(r) })),
    ...mine.filter((e) => e.thread_ts === message.ts).map((e) => ({ ts: e.ts, node: () => renderEphemeral(e) })),
  ].sort((a, b) => parseFloat(a.ts) - parseFloat(b.ts));
  if (replies.length) {
    const thread = el("div", "thread");
    replies.forEach((r) => thread.appendChild(r.node()));
    node.appendChild(thread);
  }
  return node;
}

async function refresh(force) {
  const result = await api(`/_sim/messages?channel=${encodeURIComponent($("channel").value)}`);
  const json = JSON.stringify(result.body) + $("user").value;
  if (force || json !== lastJson) { lastJson = json; render(result.body); }
}

function confirmed(confirm) {
  if (!confirm) return Promise.resolve(true);
  const dialog = $("confirm");
  $("confirm-title").textContent = confirm.title.text;
  $("confirm-text").innerHTML = Blocks.mrkdwn(confirm.text.text);
  $("confirm-ok").textContent = confirm.confirm.text;
  $("confirm-deny").textContent = confirm.deny.text;
  return new Promise((resolve) => {
    $("confirm-ok").onclick = () => { dialog.close(); resolve(true); };
    $("confirm-deny").onclick = () => { dialog.close(); resolve(false); };
    dialog.showModal();
  });
}

async function click(button) {
  if (!(await confirmed(button.dataset.confirm && JSON.parse(button.dataset.confirm)))) return;
  status(`clicking ${button.dataset.actionId}...`);
  const result = await api("/_sim/click", { user: $("user").value, channel: $("channel").value,
    ts: button.dataset.ts, action_id: button.dataset.actionId });
  status(`${button.dataset.actionId}: ${describe(result)}`);
  refresh(true);
}

async function send(event) {
  event.preventDefault();
  const line = $("composer").value.trim();
  const match = line.match(/^(\/\S+)\s*([\s\S]*)$/);
  if (!match) { status("type a slash command, e.g. /mesh-upgrade plan aks-prod"); return; }
  $("composer").value = "";
  status(`${match[1]}...`);
  const result = await api("/_sim/command", { user: $("user").value, channel: $("channel").value,
    command: match[1], text: match[2] });
  status(`${match[1]}: ${describe(result)}`);
  refresh(true);
}

async function start() {
  const ws = (await api("/_sim/workspace")).body;
  const names = {};
  ws.users.forEach((u) => { users[u.id] = u.name; names[u.id] = u.name; });
  ws.usergroups.forEach((g) => { names[g.id] = g.handle; });
  ws.channels.forEach((c) => { names[c.id] = c.name; });
  Blocks.setNames(names);
  ws.users.filter((u) => !u.is_bot).forEach((u) => $("user").appendChild(new Option(u.name, u.id)));
  ws.channels.forEach((c) => $("channel").appendChild(new Option(`#${c.name}`, c.id)));
  const params = new URLSearchParams(location.search);
  if (params.get("user")) $("user").value = params.get("user");
  if (params.get("channel")) $("channel").value = params.get("channel");
  $("user").onchange = () => refresh(true);
  $("channel").onchange = () => refresh(true);
  $("compose").onsubmit = send;
  $("messages").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action-id]");
    if (button) click(button);
  });
  await refresh(true);
  setInterval(() => refresh(false).catch(() => status("simulator unreachable")), 700);
}

start();
