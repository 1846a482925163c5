// One message of a conversation as a list item: text, a file, a card, a system notice or the
// stub of a recalled message. `env` = { ctx, conv, canRecall(m), canEdit(m), actions: {
// recall(m), edit(m, li), readers(m, button), ack(m, button), download(m) } }.
import * as cards from "/static/cards.js";
import { el } from "/static/dom.js";
import { formatSize, nameNode, t, when, withNames } from "/static/chat-text.js";

export function renderMessage(message, env) {
  const { ctx } = env;
  const me = ctx.me.id;
  const data = { msg: message.id, seq: String(message.seq) };
  if (message.recalled) {
    const by = message.recalled_by ?? message.sender_id;
    const stub = by === me ? el("span", {}, t("recalled_me")) : withNames(ctx, [by], ([name]) => t("recalled", { name }));
    return el("li", { class: "msg notice recalled", dataset: data }, stub);
  }
  if (message.type === "system") {
    return el("li", { class: "msg notice", dataset: data }, systemNotice(message, ctx));
  }
  const own = message.sender_id === me;
  const classes = ["msg", own ? "own" : "other", message.type === "card" && "card-msg",
    message.mention && "mentioned", message.urgent && "urgent"].filter(Boolean).join(" ");
  const head = el("div", { class: "head" },
    own || message.sender_id === "system" ? null : nameNode(ctx, message.sender_id),
    el("time", { datetime: message.ts }, when(message.ts)),
    message.urgent ? el("span", { class: "ding" }, t("urgent")) : null,
    message.edited_at ? el("span", { class: "edited" }, t("edited")) : null);
  const foot = el("div", { class: "foot" });
  if (own && env.conv.type !== "notifications") {
    const readers = el("button", { type: "button", class: "readers", hidden: true, onclick: () => env.actions.readers(message, readers) });
    foot.append(readers);
  }
  if (message.urgent && !own) {
    const ack = el("button", { type: "button", class: "ack", onclick: () => env.actions.ack(message, ack) }, t("ack"));
    foot.append(ack);
  }
  const actions = el("div", { class: "actions" },
    env.canEdit(message) ? el("button", { type: "button", class: "edit", onclick: () => env.actions.edit(message, item) }, t("edit")) : null,
    env.canRecall(message) ? el("button", { type: "button", class: "recall", onclick: () => env.actions.recall(message) }, t("recall")) : null);
  const avatar = message.type === "card" ? null
    : withNames(ctx, [message.sender_id], ([name]) => Array.from(name)[0] ?? "?", "span", { class: "avatar", "aria-hidden": "true" });
  const item = el("li", { class: classes, dataset: data }, avatar,
    el("div", { class: "body" }, head, el("div", { class: "row" }, el("div", { class: "bubble" }, content(message, env)), foot),
      actions.children.length ? actions : null));
  // A tap on the message shows its actions (there is no hover on a phone).
  if (actions.children.length) {
    item.addEventListener("click", (event) => {
      if (!event.target.closest("button, a, textarea, input, select")) item.classList.toggle("open");
    });
  }
  return item;
}

// A message of ours still on its way: `state` is "sending" or "failed".
export function renderPending(text, clientMsgId, retry) {
  const state = el("button", { type: "button", class: "state", disabled: true, onclick: retry }, t("sending"));
  return el("li", { class: "msg own pending", dataset: { pending: clientMsgId } },
    el("div", { class: "body" }, el("div", { class: "row" }, el("div", { class: "bubble" }, el("div", { class: "text" }, text)), el("div", { class: "foot" }, state))));
}

export function setPendingState(li, state, reason) {
  li.classList.toggle("failed", state === "failed");
  const button = li.querySelector(".state");
  button.disabled = state !== "failed";
  button.textContent = state === "failed" ? t("failed") : t("sending");
  button.title = reason ?? "";
}

function content(message, env) {
  if (message.type === "card") return cardNode(message.card ?? {}, env.ctx);
  if (message.type === "file" && message.file) {
    const file = message.file;
    return [
      el("div", { class: "file" },
        el("span", { class: "file-icon", "aria-hidden": "true" }, extension(file.name)),
        el("span", { class: "file-name" }, file.name),
        el("span", { class: "file-size" }, formatSize(file.size ?? 0)),
        el("button", { type: "button", class: "download", onclick: () => env.actions.download(message) }, t("download"))),
      message.text ? el("div", { class: "text" }, message.text) : null,
    ];
  }
  return el("div", { class: "text" }, message.text ?? "");
}

// "PDF" for 报告.pdf: what the file icon shows.
function extension(name) {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot + 1, dot + 5).toUpperCase() : "FILE";
}

function cardNode(card, ctx) {
  if (typeof cards.renderCard === "function") {
    try {
      return cards.renderCard(card, ctx);
    } catch (error) {
      console.error("renderCard failed", error);
    }
  }
  return el("div", { class: "card-fallback", dataset: { cardId: card.card_id ?? "" } },
    el("strong", {}, card.title ?? ""), card.status ? el("span", { class: "hint" }, ` · ${card.status}`) : null);
}

function systemNotice(message, ctx) {
  const event = message.event;
  if (!event) return el("span", {}, message.text || t("system_preview"));
  const by = event.by ?? "system";
  switch (event.kind) {
    case "members_added":
      return withNames(ctx, [by, ...(event.user_ids ?? [])], ([who, ...names]) => t("sys_members_added", { by: who, names: names.join("、") }));
    case "members_removed":
      if (event.user_ids?.length === 1 && event.user_ids[0] === by) {
        return withNames(ctx, [by], ([who]) => t("sys_left", { names: who }));
      }
      return withNames(ctx, [by, ...(event.user_ids ?? [])], ([who, ...names]) => t("sys_members_removed", { by: who, names: names.join("、") }));
    case "updated": {
      const changes = event.changes ?? {};
      if (changes.title !== undefined) return withNames(ctx, [by], ([who]) => t("sys_title", { by: who, title: changes.title }));
      if (changes.announcement !== undefined) return withNames(ctx, [by], ([who]) => t("sys_announcement", { by: who, text: changes.announcement }));
      if (changes.open_history !== undefined) return withNames(ctx, [by], ([who]) => t("sys_history", { by: who }));
      return el("span", {}, t("sys_other"));
    }
    case "admins":
      return withNames(ctx, [by, event.user_id], ([who, name]) => t(event.admin ? "sys_admin_on" : "sys_admin_off", { by: who, name }));
    case "owner":
      return withNames(ctx, [by, event.user_id], ([who, name]) => t("sys_owner", { by: who, name }));
    case "dissolved":
      return withNames(ctx, [by], ([who]) => t("sys_dissolved", { by: who }));
    default:
      return el("span", {}, message.text || t("sys_other"));
  }
}
