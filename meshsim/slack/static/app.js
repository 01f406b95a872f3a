// The channel page: polls /_sim/messages, renders it, and acts as the chosen user through
// /_sim/command and /_sim/click. A message's thread opens in the side pane (#thread) from its
// "N replies" button. The Home button opens the app's Home tab as the chosen user (POST
// /_sim/home delivers app_home_opened) and shows the view published for them (#home).
// Element ids (#user, #channel, #composer, #confirm-ok, #thread-messages, #home-tab, #home)
// and data-action-id / data-thread-ts are what browser tests use.
"use strict";

const $ = (id) => document.getElementById(id);
const { el } = Blocks;
let lastJson = "";
let users = {};
let openThread = null;  // ts of the thread shown in the side pane
let onHome = false;  // the Home tab is shown instead of the channel

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
  node.id = `m${message.ts.replace(".", "-")}`;  // where its permalink leads
  node.appendChild(meta(message));
  if (message.blocks && message.blocks.length) node.appendChild(Blocks.render(message.blocks, message.ts));
  else if (message.text) { const t = el("div", "text"); t.innerHTML = Blocks.mrkdwn(message.text); node.appendChild(t); }
  (message.files || []).forEach((f) => node.appendChild(renderFile(f)));
  return node;
}

// An uploaded image shows inline (from the simulator's /_sim/files/ID), any other file as a chip.
function renderFile(f) {
  if (!(f.mimetype || "").startsWith("image/")) {
    return el("div", "file", `📄 ${f.title} (${f.name}, ${f.size} bytes)`);
  }
  const node = el("figure", "file-image");
  node.dataset.fileId = f.id;
  const img = el("img");
  img.src = `/_sim/files/${encodeURIComponent(f.id)}`;
  img.alt = f.alt_txt || f.title || f.name;  // what a screen reader says, as in Slack
  node.append(img, el("figcaption", "", `${f.title} (${f.name})`));
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
  const items = [
    ...data.messages.map((m) => ({ ts: m.ts, node: () => renderRoot(m, mine) })),
    ...mine.filter((e) => !e.thread_ts).map((e) => ({ ts: e.ts, node: () => renderEphemeral(e) })),
  ].sort((a, b) => parseFloat(a.ts) - parseFloat(b.ts));
  keepScroll($("messages"), () => $("messages").replaceChildren(...items.map((i) => i.node())));
  renderThread(data.messages.find((m) => m.ts === openThread), mine);
}

// A channel message, with "N replies" under it when it has a thread (opened in the side pane).
function renderRoot(message, mine) {
  const node = renderMessage(message);
  const count = threadItems(message, mine).length;
  if (count) {
    const link = el("button", "replies", `${count} ${count === 1 ? "reply" : "replies"}`);
    link.type = "button";
    link.dataset.threadTs = message.ts;
    if (message.ts === openThread) link.classList.add("open");
    node.appendChild(link);
  }
  return node;
}

function threadItems(message, mine) {
  return [
    ...(message.replies || []).map((r) => ({ ts: r.ts, node: () => renderMessage(r) })),
    ...mine.filter((e) => e.thread_ts === message.ts).map((e) => ({ ts: e.ts, node: () => renderEphemeral(e) })),
  ].sort((a, b) => parseFloat(a.ts) - parseFloat(b.ts));
}

// The open thread: its first message, then the replies (and my ephemerals in it), newest last.
function renderThread(root, mine) {
  $("thread").hidden = !root;
  if (!root) { $("thread-messages").replaceChildren(); return; }
  $("thread-title").textContent = `#${$("channel").selectedOptions[0].textContent.slice(1)}`;
  const nodes = [renderMessage(root, "root"), ...threadItems(root, mine).map((i) => i.node())];
  keepScroll($("thread-messages"), () => $("thread-messages").replaceChildren(...nodes));
}

// Re-rendering keeps a pane where the reader left it, and at the bottom if it was there.
function keepScroll(pane, fill) {
  const atBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 40;
  const top = pane.scrollTop;
  fill();
  pane.scrollTop = atBottom ? pane.scrollHeight : top;
}

function openThreadAt(ts) {
  openThread = ts;
  const pane = $("thread-messages");
  refresh(true).then(() => { pane.scrollTop = pane.scrollHeight; });
}

function showHome(on) {
  onHome = on;
  $("home-tab").setAttribute("aria-pressed", String(on));
  $("home").hidden = !on;
  $("messages").hidden = on;
  $("compose").hidden = on;
  if (on) {
    status("opening Home...");
    api("/_sim/home", { user: $("user").value })
      .then((r) => status(`app_home_opened: ${describe(r)}`));
  }
  refresh(true);
}

async function refreshHome(force) {
  const result = await api(`/_sim/home?user=${encodeURIComponent($("user").value)}`);
  const json = JSON.stringify(result.body);
  if (!force && json === lastJson) return;
  lastJson = json;
  const view = result.body.view;
  $("home").replaceChildren(view ? Blocks.render(view.blocks, "")
    : el("div", "text", "The app has not published a Home view for you yet."));
}

async function refresh(force) {
  if (onHome) return refreshHome(force);
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
  if (params.get("thread")) openThread = params.get("thread");
  $("user").onchange = () => (onHome ? showHome(true) : refresh(true));
  $("home-tab").onclick = () => showHome(!onHome);
  $("channel").onchange = () => { openThread = null; refresh(true); };
  $("compose").onsubmit = send;
  $("layout").addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action-id]");
    if (button) click(button);
    const replies = e.target.closest("button[data-thread-ts]");
    if (replies) openThreadAt(replies.dataset.threadTs);
  });
  $("thread-close").onclick = () => { openThread = null; refresh(true); };
  await refresh(true);
  setInterval(() => refresh(false).catch(() => status("simulator unreachable")), 700);
}

start();
