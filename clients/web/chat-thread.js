// One open conversation: its header, the messages (older pages on scrolling up), the typing
// line, read receipts of our own messages, recall and edit, and the composer. Messages are
// kept by id, so the acknowledgement, the `msg:new` push and a replay after a reconnect show
// a message once. env = { ctx, viewing(), onRead(conv_id, read_seq), onSent(message),
// onBack(), presenceOf(user_id) }.
import { download, upload } from "/static/api.js";
import { el, fill } from "/static/dom.js";
import { createComposer } from "/static/chat-composer.js";
import { renderMessage, renderPending, setPendingState } from "/static/chat-message.js";
import { createReceipts } from "/static/chat-receipts.js";
import { convTitle, isManager, newId, peerOf, t, toast, withNames } from "/static/chat-text.js";

const PAGE = 30;
const RECALL_WINDOW_MS = 120000;
const TYPING_EVERY_MS = 2000;
const TYPING_SHOWN_MS = 4000;

export function createThread(env) {
  const { ctx } = env;
  const me = ctx.me.id;
  const title = el("h2", { class: "conv-title" });
  const status = el("span", { class: "presence", hidden: true });
  const sub = el("span", { class: "sub" });
  const back = el("button", { type: "button", class: "back", onclick: () => env.onBack() }, `‹ ${t("back")}`);
  const announcement = el("div", { class: "announcement", hidden: true });
  const older = el("button", { type: "button", class: "older", onclick: () => loadOlder() }, t("load_older"));
  const list = el("ol", { class: "messages" });
  const scroller = el("div", { class: "scroller" }, el("div", { class: "older-row" }, older), list);
  const typingLine = el("div", { class: "typing", "aria-live": "polite" });
  const jump = el("button", { type: "button", class: "jump", hidden: true, onclick: () => toBottom() }, t("new_messages"));
  const note = el("div", { class: "closed-note", hidden: true });
  const popover = el("div", { class: "readers-pop", role: "dialog", hidden: true });
  const composer = createComposer({ ctx, conv: () => conv, send: sendText, sendFile, typing });
  const empty = el("div", { class: "empty" }, t("empty"));
  const pane = el("div", { class: "pane", hidden: true },
    el("header", { class: "thread-head" }, back, status, title, sub), announcement, scroller, jump, typingLine, note, composer.node, popover);
  const node = el("section", { class: "thread" }, empty, pane);
  const receipts = createReceipts({ ctx, conv: () => conv, own: () => own(), nodeOf: (id) => nodes.get(id), popover });

  let conv = null;
  let generation = 0;
  let byId = new Map(); // message id -> message
  let nodes = new Map(); // message id -> li
  let pending = new Map(); // client_msg_id -> { li, payload, file?, sending }
  let typers = new Map(); // user id -> timer
  let oldestSeq = null;
  let hasMore = false;
  let paged = false; // an older page was asked for
  let loading = null;
  let readAsked = 0;
  let lastTyping = 0;

  scroller.addEventListener("scroll", () => {
    if (scroller.scrollTop < 40 && hasMore && !loading) loadOlder();
    if (nearBottom()) jump.hidden = true;
  });

  const nearBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  function toBottom() {
    scroller.scrollTop = scroller.scrollHeight;
    jump.hidden = true;
  }

  async function open(next) {
    generation += 1;
    conv = next;
    byId = new Map();
    nodes = new Map();
    pending = new Map();
    receipts.reset();
    for (const timer of typers.values()) clearTimeout(timer);
    typers = new Map();
    oldestSeq = null;
    hasMore = false;
    paged = false;
    loading = null;
    readAsked = 0;
    list.replaceChildren();
    fill(typingLine);
    empty.hidden = true;
    pane.hidden = false;
    paintHeader();
    composer.reset(conv);
    const opened = generation;
    await loadOlder(true);
    // A tall window may show the whole first page: fetch more until it can scroll.
    while (opened === generation && hasMore && scroller.clientHeight > 0 && scroller.scrollHeight <= scroller.clientHeight) await loadOlder();
    if (opened !== generation) return;
    toBottom();
    markRead();
    receipts.refresh();
  }

  function close(reason) {
    generation += 1;
    conv = null;
    pane.hidden = true;
    fill(empty, reason ?? t("empty"));
    empty.hidden = false;
    composer.reset(null);
  }

  function paintHeader() {
    fill(title, convTitle(ctx, conv, { class: "name" }));
    if (conv.type === "direct") {
      const state = env.presenceOf(peerOf(conv, me));
      status.dataset.status = state;
      status.title = t(state);
      status.hidden = false;
      sub.textContent = t(state);
    } else {
      status.hidden = true;
      sub.textContent = conv.type === "notifications" ? "" : t("members", { n: conv.member_count ?? conv.members.length });
    }
    announcement.hidden = !conv.announcement;
    fill(announcement, el("strong", {}, t("announcement")), " ", conv.announcement ?? "");
    const closed = conv.type === "notifications" ? t("notifications_hint") : conv.dissolved ? t("dissolved") : null;
    composer.node.hidden = Boolean(closed);
    note.hidden = !closed;
    note.textContent = closed ?? "";
  }

  function paintOlder() {
    older.disabled = Boolean(loading) || !hasMore;
    older.textContent = loading ? t("loading") : hasMore ? t("load_older") : t("no_more");
    older.parentElement.hidden = !hasMore && !loading && !paged;
  }

  function loadOlder(initial = false) {
    if (!conv || loading || (!initial && !hasMore)) return loading;
    const opened = generation;
    paged ||= !initial;
    const payload = { conv_id: conv.id, limit: PAGE };
    if (oldestSeq) payload.before_seq = oldestSeq;
    loading = (async () => {
      try {
        const page = await ctx.live.call("msg:history", payload);
        if (opened !== generation) return;
        const keep = scroller.scrollHeight - scroller.scrollTop;
        for (const message of page.messages) {
          insert(message);
          oldestSeq = oldestSeq === null ? message.seq : Math.min(oldestSeq, message.seq);
        }
        hasMore = page.has_more && page.messages.length > 0;
        if (!initial) scroller.scrollTop = scroller.scrollHeight - keep;
      } catch (error) {
        if (opened === generation) toast(node, t("error", { message: error.message }));
      } finally {
        if (opened === generation) {
          loading = null;
          paintOlder();
        }
      }
    })();
    paintOlder();
    return loading;
  }

  // Puts a message in seq order (ours still pending stay last); false if it was there already.
  function insert(message) {
    if (!conv || message.conv_id !== conv.id || byId.has(message.id)) return false;
    const waiting = message.sender_id === me ? pending.get(message.client_msg_id) : null;
    if (waiting) {
      waiting.li.remove();
      pending.delete(message.client_msg_id);
    }
    byId.set(message.id, message);
    const li = render(message);
    nodes.set(message.id, li);
    let after = null;
    for (let child = list.lastElementChild; child; child = child.previousElementSibling) {
      if (child.dataset.seq && Number(child.dataset.seq) < message.seq) {
        after = child;
        break;
      }
    }
    if (after) after.after(li);
    else list.prepend(li);
    return true;
  }

  function render(message) {
    const li = renderMessage(message, {
      ctx, conv, canRecall, canEdit,
      actions: { recall, edit, readers: receipts.show, ack, download: fetchFile },
    });
    // Our own recall button goes away when the window to recall closes.
    if (!message.recalled && message.sender_id === me && !isManager(conv, me)) {
      const left = Date.parse(message.ts) + RECALL_WINDOW_MS - Date.now();
      if (left > 0) setTimeout(() => li.querySelector(".actions .recall")?.remove(), left);
    }
    receipts.paint(message, li);
    return li;
  }

  function replace(message) {
    const old = nodes.get(message.id);
    if (!old) return;
    byId.set(message.id, message);
    const li = render(message);
    old.replaceWith(li);
    nodes.set(message.id, li);
  }

  function canRecall(message) {
    if (message.recalled || message.type === "system") return false;
    if (isManager(conv, me)) return true;
    return message.sender_id === me && message.type !== "card" && Date.now() - Date.parse(message.ts) < RECALL_WINDOW_MS;
  }

  const canEdit = (message) => message.sender_id === me && message.type === "text" && !message.recalled && !conv.dissolved;

  // A message of this conversation from a push, a sync or our own send.
  function add(message) {
    const follow = message.sender_id === me || nearBottom();
    if (!insert(message)) return;
    stopTyping(message.sender_id);
    if (message.sender_id === me) receipts.sent(message);
    if (follow) toBottom();
    else jump.hidden = false;
    markRead();
  }

  function markRead() {
    if (!conv || !env.viewing()) return;
    let last = 0;
    for (const message of byId.values()) last = Math.max(last, message.seq);
    if (last <= (conv.read_seq ?? 0)) {
      if (conv.unread) env.onRead(conv.id, conv.read_seq);
      return;
    }
    if (last <= readAsked) return;
    readAsked = last;
    const convId = conv.id;
    ctx.live.call("msg:read", { conv_id: convId, seq: last })
      .then(({ read_seq }) => env.onRead(convId, read_seq))
      .catch(() => { readAsked = 0; });
  }

  const own = () => [...byId.values()].filter((m) => m.sender_id === me && !m.recalled && m.type !== "system")
    .sort((a, b) => b.seq - a.seq);

  // Actions on a message ---------------------------------------------------------------------

  async function recall(message) {
    try {
      const { message: stub } = await ctx.live.call("msg:recall", { msg_id: message.id });
      replace(stub);
    } catch (error) {
      toast(node, t("error", { message: error.message }));
    }
  }

  function edit(message, li) {
    const bubble = li.querySelector(".bubble");
    const box = el("textarea", { class: "edit-box", maxlength: 5000, "aria-label": t("edit") });
    box.value = message.text;
    const save = async () => {
      if (!box.value.trim() || box.value === message.text) return replace(byId.get(message.id));
      try {
        const { message: edited } = await ctx.live.call("msg:edit", { msg_id: message.id, text: box.value });
        replace({ ...edited, mention: message.mention });
      } catch (error) {
        toast(node, t("error", { message: error.message }));
      }
    };
    fill(bubble, box, el("div", { class: "edit-actions" },
      el("button", { type: "button", class: "primary save", onclick: save }, t("save")),
      el("button", { type: "button", class: "cancel", onclick: () => replace(byId.get(message.id)) }, t("cancel"))));
    box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        save();
      } else if (event.key === "Escape") replace(byId.get(message.id));
    });
    box.focus();
  }

  async function ack(message, button) {
    try {
      await ctx.live.call("msg:ack", { msg_id: message.id });
      button.disabled = true;
      button.textContent = t("acked");
    } catch (error) {
      toast(node, t("error", { message: error.message }));
    }
  }

  function fetchFile(message) {
    download(`/api/v1/files/${encodeURIComponent(message.file.id)}`, message.file.name)
      .catch((error) => toast(node, t("error", { message: error.message })));
  }

  // Sending ---------------------------------------------------------------------------------

  function queue(entry, text) {
    const id = entry.payload.client_msg_id;
    entry.li = renderPending(text, id, () => deliver(id));
    pending.set(id, entry);
    list.append(entry.li);
    toBottom();
    deliver(id);
  }

  function sendText(text, mentions) {
    if (!conv) return;
    const payload = { conv_id: conv.id, client_msg_id: newId(), type: "text", text };
    if (mentions.length) payload.mentions = mentions;
    lastTyping = 0; // the next keystroke starts a new burst of typing
    queue({ payload }, text);
  }

  function sendFile(file) {
    if (!conv) return;
    const payload = { conv_id: conv.id, client_msg_id: newId(), type: "file", text: "" };
    queue({ payload, file }, t("uploading", { name: file.name }));
  }

  // Sends (again) with the same client_msg_id, so a retry never posts twice.
  async function deliver(id) {
    const entry = pending.get(id);
    if (!entry || entry.sending) return;
    entry.sending = true;
    setPendingState(entry.li, "sending");
    try {
      if (entry.file && !entry.payload.file_id) {
        const query = `conv_id=${encodeURIComponent(entry.payload.conv_id)}&name=${encodeURIComponent(entry.file.name)}`;
        const { file } = await upload(`/api/v1/files?${query}`, entry.file);
        entry.payload.file_id = file.id;
      }
      const { message } = await ctx.live.call("msg:send", entry.payload);
      env.onSent(message);
    } catch (error) {
      if (pending.get(id) === entry) setPendingState(entry.li, "failed", error.message);
    } finally {
      entry.sending = false;
    }
  }

  function typing() {
    if (!conv || Date.now() - lastTyping < TYPING_EVERY_MS) return;
    lastTyping = Date.now();
    ctx.live.call("typing", { conv_id: conv.id }).catch(() => {});
  }

  function onTyping({ conv_id: convId, user_id: userId }) {
    if (!conv || convId !== conv.id || userId === me) return;
    clearTimeout(typers.get(userId));
    typers.set(userId, setTimeout(() => stopTyping(userId), TYPING_SHOWN_MS));
    paintTyping();
  }

  function stopTyping(userId) {
    if (!typers.has(userId)) return;
    clearTimeout(typers.get(userId));
    typers.delete(userId);
    paintTyping();
  }

  function paintTyping() {
    const ids = [...typers.keys()];
    fill(typingLine, ids.length ? withNames(ctx, ids, (names) => t("typing", { name: names.join("、") })) : null);
  }

  // Scrolls to a message (a search result), loading older pages until it is there.
  async function reveal(messageId) {
    for (let page = 0; conv && !nodes.has(messageId) && hasMore && page < 40; page += 1) await loadOlder();
    const li = nodes.get(messageId);
    if (!li) return;
    li.scrollIntoView({ block: "center" });
    li.classList.add("flash");
    setTimeout(() => li.classList.remove("flash"), 2000);
  }

  return {
    node,
    open,
    close,
    add,
    markRead,
    // Someone else's read cursor moved (in a group we hear of it only for our own messages).
    onReceipt(receipt) {
      if (conv && receipt.conv_id === conv.id && receipt.user_id !== me) receipts.onReceipt(receipt);
    },
    onTyping,
    reveal,
    get convId() { return conv?.id ?? null; },
    update(next) {
      if (!conv || next.id !== conv.id) return;
      conv = next;
      paintHeader();
    },
    presence(userId) {
      if (conv?.type === "direct" && peerOf(conv, me) === userId) paintHeader();
    },
    onRecalled({ msg_id: messageId, recalled_by: by, recalled_at: at }) {
      const message = byId.get(messageId);
      if (!message || message.recalled) return;
      replace({ id: message.id, conv_id: message.conv_id, seq: message.seq, sender_id: message.sender_id, type: message.type,
        ts: message.ts, client_msg_id: message.client_msg_id, urgent: message.urgent, recalled: true, text: "", recalled_by: by, recalled_at: at });
    },
    onEdited(message) {
      const known = byId.get(message.id);
      if (known && !known.recalled) replace({ ...known, ...message, mention: known.mention });
    },
    // After a reconnect: what failed to send goes again, and receipts are asked afresh.
    restored() {
      for (const [id, entry] of pending) if (entry.li.classList.contains("failed")) deliver(id);
      receipts.refresh();
      markRead();
    },
  };
}
