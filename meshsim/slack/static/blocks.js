// Block Kit to DOM: header, section (mrkdwn, fields, accessory), context, divider, image,
// actions with buttons (style, confirm). Buttons carry data-action-id / data-ts for tests.
"use strict";

const Blocks = (() => {
  let names = {};  // id -> display name, for <@U..>, <#C..>, <!subteam^S..>

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // The shortcodes our bot writes, shown as Slack shows them; any other stays as typed.
  const EMOJI = {
    white_check_mark: "\u2705", warning: "\u26a0\ufe0f", rotating_light: "\ud83d\udea8",
    no_entry: "\u26d4", mag: "\ud83d\udd0d", information_source: "\u2139\ufe0f",
    hourglass_flowing_sand: "\u23f3", hourglass: "\u231b", clipboard: "\ud83d\udccb",
    arrows_counterclockwise: "\ud83d\udd04", x: "\u274c", raised_hand: "\u270b",
    ballot_box_with_check: "\u2611\ufe0f", rewind: "\u23ea", no_entry_sign: "\ud83d\udeab",
    memo: "\ud83d\udcdd", leftwards_arrow_with_hook: "\u21a9\ufe0f",
    large_blue_circle: "\ud83d\udd35", fast_forward: "\u23e9",
    double_vertical_bar: "\u23f8\ufe0f", alarm_clock: "\u23f0", tada: "\ud83c\udf89",
  };

  function emoji(s) {
    return s.replace(/:([a-z0-9_+-]+):/g, (m, name) => EMOJI[name] || m);
  }

  function escapeHtml(s) {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function unescapeSlack(s) {
    return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  }

  function link(token) {
    const inner = token.slice(1, -1);
    const [target, label] = inner.split("|");
    if (target.startsWith("@")) return `<b>@${escapeHtml(names[target.slice(1)] || target.slice(1))}</b>`;
    if (target.startsWith("#")) return `<b>#${escapeHtml(names[target.slice(1)] || target.slice(1))}</b>`;
    if (target.startsWith("!date^")) return date(target, label);
    if (target.startsWith("!subteam^")) {
      const id = target.slice(9);
      return `<b>@${escapeHtml(label || names[id] || id)}</b>`;
    }
    if (target.startsWith("!")) return `<b>@${escapeHtml(target.slice(1))}</b>`;
    // A message's permalink (chat.getPermalink) opens that message here, as in Slack's client.
    const message = /^https:\/\/[^/]+\.slack\.com\/archives\/[A-Z0-9]+\/p(\d+)(\d{6})$/.exec(target);
    if (message) return `<a href="#m${message[1]}-${message[2]}">${escapeHtml(label || target)}</a>`;
    return `<a href="${escapeHtml(target)}" target="_blank">${escapeHtml(label || target)}</a>`;
  }

  // <!date^unix^{tokens} text^optional link|fallback>, in the reader's own zone as Slack shows
  // it (api.slack.com "Formatting dates"); the fallback where the stamp cannot be read.
  function date(target, fallback) {
    const [, stamp, format] = target.split("^");
    const when = new Date(Number(stamp) * 1000);
    if (!format || Number.isNaN(when.getTime())) return escapeHtml(fallback || "");
    const day = (opts) => when.toLocaleDateString(undefined, opts);
    const today = new Date(), yesterday = new Date(Date.now() - 86400000);
    const same = (a, b) => a.toDateString() === b.toDateString();
    const pretty = (plain) => same(when, today) ? "Today"
      : same(when, yesterday) ? "Yesterday" : plain;
    const short = day({month: "short", day: "numeric", year: "numeric"});
    const long = day({weekday: "long", month: "long", day: "numeric", year: "numeric"});
    const tokens = {
      date_num: when.toLocaleDateString("en-CA"), date: day({month: "long", day: "numeric",
                                                              year: "numeric"}),
      date_short: short, date_long: long, date_pretty: pretty(day({month: "long",
                                                                   day: "numeric"})),
      date_short_pretty: pretty(short), date_long_pretty: pretty(long),
      time: when.toLocaleTimeString(undefined, {hour: "numeric", minute: "2-digit"}),
      time_secs: when.toLocaleTimeString(),
    };
    const shown = format.replace(/\{(\w+)\}/g, (m, name) => tokens[name] || m);
    return `<time datetime="${when.toISOString()}" title="${escapeHtml(fallback || "")}">` +
      `${escapeHtml(shown)}</time>`;
  }

  function styleText(s) {
    return escapeHtml(emoji(unescapeSlack(s)))
      .replace(/```([\s\S]+?)```/g, "<pre>$1</pre>")
      .replace(/`([^`]+)`/g, "<code>$1</code>")
      .replace(/(^|[\s(])\*([^*\n]+)\*/g, "$1<b>$2</b>")
      .replace(/(^|[\s(])_([^_\n]+)_/g, "$1<i>$2</i>")
      .replace(/(^|[\s(])~([^~\n]+)~/g, "$1<s>$2</s>")
      .replace(/\n/g, "<br>");
  }

  function mrkdwn(s) {
    return s.split(/(<[^<>]+>)/).map((part) =>
      part.startsWith("<") && part.endsWith(">") ? link(part) : styleText(part)).join("");
  }

  function text(obj, cls) {
    const node = el("div", cls);
    if (!obj) return node;
    if (obj.type === "mrkdwn") node.innerHTML = mrkdwn(obj.text || "");
    else node.textContent = obj.emoji === false ? obj.text || "" : emoji(obj.text || "");
    return node;
  }

  function button(element, ts) {
    const node = el("button", `bk ${element.style || ""}`, (element.text || {}).text || "");
    node.type = "button";
    node.dataset.actionId = element.action_id || "";
    node.dataset.ts = ts;
    if (element.value !== undefined) node.dataset.value = element.value;
    if (element.confirm) node.dataset.confirm = JSON.stringify(element.confirm);
    return node;
  }

  function element(item, ts) {
    if (item.type === "button") return button(item, ts);
    if (item.type === "image") {
      const img = el("img");
      img.src = item.image_url; img.alt = item.alt_text || "";
      return img;
    }
    return el("span", "unsupported", `[${item.type}]`);
  }

  const renderers = {
    header: (b) => text(b.text, "block header"),
    divider: () => el("hr", "block divider"),
    section: (b, ts) => {
      const node = el("div", "block section");
      if (b.text) node.appendChild(text(b.text));
      if (b.fields) {
        const grid = el("div", "fields");
        b.fields.forEach((f) => grid.appendChild(text(f)));
        node.appendChild(grid);
      }
      if (b.accessory) node.appendChild(element(b.accessory, ts));
      return node;
    },
    context: (b, ts) => {
      const node = el("div", "block context");
      (b.elements || []).forEach((e) =>
        node.appendChild(e.type === "image" ? element(e, ts) : text(e)));
      return node;
    },
    image: (b, ts) => {
      const node = el("div", "block block-image");
      if (b.title) node.appendChild(text(b.title));
      node.appendChild(element(b, ts));
      return node;
    },
    actions: (b, ts) => {
      const node = el("div", "block actions");
      (b.elements || []).forEach((e) => node.appendChild(element(e, ts)));
      return node;
    },
    markdown: (b) => { const n = el("div", "block"); n.innerHTML = mrkdwn(b.text || ""); return n; },
  };

  function render(blocks, ts) {
    const frag = el("div", "blocks");
    (blocks || []).forEach((b) => {
      const renderer = renderers[b.type];
      const node = renderer ? renderer(b, ts) : el("div", "block unsupported", `[${b.type}]`);
      if (b.block_id) node.dataset.blockId = b.block_id;
      frag.appendChild(node);
    });
    return frag;
  }

  return { render, mrkdwn, emoji, el, setNames: (n) => { names = n; } };
})();
