// Read receipts of our own messages in the open conversation: 已读/未读 in a direct chat (the
// other person's read cursor), "N人未读" in a group (msg:readers for our latest messages, moved
// on by the receipt pushes the server sends to senders), and who read and who did not.
// env = { ctx, conv(), own() (our messages, newest first), nodeOf(msg_id), popover }.
import { el, fill } from "/static/dom.js";
import { nameNode, t } from "/static/chat-text.js";

const TRACKED = 20; // in a group, our latest messages that show a count

export function createReceipts(env) {
  const { ctx, popover } = env;
  const me = ctx.me.id;
  let counts = new Map(); // own message id -> { read, unread } (groups)
  let peerRead = 0; // direct chats: the other person's read cursor as far as we know ...
  let peerKnown = false; // ... once asked
  let generation = 0;
  let timer = null;

  function reset() {
    generation += 1;
    counts = new Map();
    peerRead = 0;
    peerKnown = false;
    clearTimeout(timer);
    popover.hidden = true;
  }

  function paint(message, li = env.nodeOf(message.id)) {
    const button = li?.querySelector("button.readers");
    if (!button) return;
    let text = null;
    let done = false;
    if (env.conv().type === "direct") {
      done = message.seq <= peerRead;
      if (peerKnown || done) text = done ? t("read") : t("unread");
    } else {
      const known = counts.get(message.id);
      if (known) {
        done = known.unread.length === 0;
        text = done ? t("all_read") : t("n_unread", { n: known.unread.length });
      }
    }
    button.hidden = text === null;
    button.textContent = text ?? "";
    button.classList.toggle("done", done);
  }

  const paintAll = () => { for (const message of env.own()) paint(message); };

  async function readersOf(message) {
    try {
      return await ctx.live.call("msg:readers", { conv_id: message.conv_id, msg_id: message.id });
    } catch {
      return null;
    }
  }

  async function refresh() {
    const conv = env.conv();
    if (!conv || conv.type === "notifications") return;
    const asked = generation;
    if (conv.type === "direct") {
      // They have read a message iff its seq is within their cursor: a binary search over
      // ours finds the cursor in a few questions.
      const mine = env.own().reverse().filter((m) => m.seq > peerRead);
      let low = 0;
      let high = mine.length - 1;
      while (low <= high) {
        const middle = (low + high) >> 1;
        const found = await readersOf(mine[middle]);
        if (asked !== generation || !found) return;
        if (found.read.length) {
          peerRead = Math.max(peerRead, mine[middle].seq);
          low = middle + 1;
        } else high = middle - 1;
      }
      peerKnown = true;
      paintAll();
      return;
    }
    for (const message of env.own().slice(0, TRACKED)) {
      if (counts.get(message.id)?.unread.length === 0) continue;
      const found = await readersOf(message);
      if (asked !== generation) return;
      if (found) {
        counts.set(message.id, found);
        paint(message);
      }
    }
  }

  // A message we just sent: nobody has read it yet.
  function sent(message) {
    const conv = env.conv();
    if (conv.type !== "group" && conv.type !== "department") return;
    counts.set(message.id, { read: [], unread: conv.members.filter((id) => id !== me) });
    paint(message);
  }

  // Someone else's read cursor moved.
  function onReceipt({ user_id: userId, read_seq: readSeq }) {
    if (env.conv().type === "direct") {
      peerRead = Math.max(peerRead, readSeq);
      paintAll();
      return;
    }
    let unknown = false;
    for (const message of env.own().slice(0, TRACKED)) {
      if (message.seq > readSeq) continue;
      const known = counts.get(message.id);
      if (!known) unknown = true;
      else if (known.unread.includes(userId)) {
        counts.set(message.id, { read: [...known.read, userId].sort(), unread: known.unread.filter((id) => id !== userId) });
        paint(message);
      }
    }
    if (unknown) {
      clearTimeout(timer);
      timer = setTimeout(refresh, 300);
    }
  }

  async function show(message, button) {
    const found = await readersOf(message);
    if (!found || !env.conv()) return;
    if (env.conv().type === "direct") {
      if (found.read.length) peerRead = Math.max(peerRead, message.seq);
    } else counts.set(message.id, found);
    paint(message);
    const column = (kind, heading, ids) => el("section", { class: kind }, el("h3", {}, heading),
      el("ul", {}, ids.length ? ids.map((id) => el("li", { dataset: { user: id } }, nameNode(ctx, id))) : el("li", { class: "hint" }, t("nobody"))));
    fill(popover,
      el("header", {}, el("strong", {}, t("readers")),
        el("button", { type: "button", class: "close", onclick: () => { popover.hidden = true; button.focus(); } }, t("close"))),
      el("div", { class: "columns" }, column("read", t("read_list", { n: found.read.length }), found.read),
        column("unread", t("unread_list", { n: found.unread.length }), found.unread)));
    popover.hidden = false;
    popover.querySelector("button.close").focus();
  }

  return { reset, paint, sent, refresh, onReceipt, show };
}
