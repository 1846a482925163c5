// The conversation list: 工作通知 pinned on top, then the most recent first; each row with its
// title, the last message, the time, the unread count and, for direct chats, a presence dot.
// env = { ctx, convs: Map, presence: Map, select(conv_id) }.
import { el } from "/static/dom.js";
import { convTitle, peerOf, previewText, t, when, withNames } from "/static/chat-text.js";

export function createList(env) {
  const { ctx } = env;
  const me = ctx.me.id;
  const list = el("ul", { class: "conversations" });
  const none = el("p", { class: "hint none" }, t("no_convs"));
  const node = el("div", { class: "conv-list" }, list, none);
  const items = new Map();
  let current = null;

  const recency = (conv) => conv.last_message?.ts ?? conv.created_at ?? "";
  function order(a, b) {
    const pinned = (b.type === "notifications") - (a.type === "notifications");
    if (pinned) return pinned;
    return recency(b).localeCompare(recency(a));
  }

  function preview(conv) {
    const message = conv.last_message;
    if (!message) return null;
    if (message.recalled) {
      return message.sender_id === me ? t("recalled_me") : withNames(ctx, [message.sender_id], ([name]) => t("recalled", { name }));
    }
    const text = previewText(message);
    const prefixed = conv.type !== "direct" && conv.type !== "notifications" && message.type !== "system" && message.sender_id !== me;
    return prefixed ? withNames(ctx, [message.sender_id], ([name]) => `${name}: ${text}`) : text;
  }

  function avatar(conv) {
    const first = (text) => Array.from(text)[0] ?? "?";
    if (conv.type === "notifications") return el("span", {}, "通");
    if (conv.type === "direct") return withNames(ctx, [peerOf(conv, me)], ([name]) => first(name));
    return el("span", {}, first(conv.title || "群"));
  }

  function item(conv) {
    const state = conv.type === "direct" ? env.presence.get(peerOf(conv, me)) ?? "offline" : null;
    const button = el("button", {
      type: "button", class: "conv", dataset: { conv: conv.id, type: conv.type },
      "aria-current": conv.id === current ? "true" : undefined, onclick: () => env.select(conv.id),
    },
    el("span", { class: `avatar ${conv.type}`, "aria-hidden": "true" }, avatar(conv),
      state ? el("span", { class: "presence", dataset: { status: state }, title: t(state) }) : null),
    el("span", { class: "main" },
      el("span", { class: "top" }, convTitle(ctx, conv), el("time", {}, when(recency(conv)))),
      el("span", { class: "bottom" },
        el("span", { class: "preview" }, conv.mentioned && conv.unread ? el("em", { class: "at" }, t("mentioned")) : null, preview(conv)),
        el("span", { class: "badge", hidden: !conv.unread }, conv.unread > 99 ? "99+" : String(conv.unread ?? 0)))));
    return el("li", {}, button);
  }

  // Redraws the given conversations (all by default) and puts the rows in order.
  function render(ids = null) {
    for (const id of ids ?? env.convs.keys()) {
      const conv = env.convs.get(id);
      if (!conv) continue;
      const li = item(conv);
      items.get(id)?.replaceWith(li);
      items.set(id, li);
    }
    for (const [id, li] of items) {
      if (!env.convs.has(id)) {
        li.remove();
        items.delete(id);
      }
    }
    const sorted = [...env.convs.values()].sort(order).map((conv) => items.get(conv.id));
    const shown = [...list.children];
    if (sorted.length !== shown.length || sorted.some((li, index) => li !== shown[index])) list.replaceChildren(...sorted);
    none.hidden = sorted.length > 0;
  }

  return {
    node,
    render,
    setCurrent(id) {
      current = id;
      for (const button of list.querySelectorAll("button.conv")) {
        if (button.dataset.conv === id) button.setAttribute("aria-current", "true");
        else button.removeAttribute("aria-current");
      }
    },
    presence(userId) {
      render([...env.convs.values()].filter((c) => c.type === "direct" && peerOf(c, me) === userId).map((c) => c.id));
    },
  };
}
