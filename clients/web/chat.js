// 消息: the conversation list beside the open conversation (one pane at a time on a phone).
// It keeps each conversation's last seq, read cursor and unread count from `conv:list`, moves
// them on pushes, and after a reconnect asks `msg:sync` for what came meanwhile (the change
// feed, replayed by live.js through the same handlers, brings recalls, edits, receipts and
// membership changes). Modules: chat-list, chat-thread (with chat-message, chat-composer),
// chat-search, chat-group, chat-text.
import { el } from "/static/dom.js";
import { openGroupDialog } from "/static/chat-group.js";
import { createList } from "/static/chat-list.js";
import { createSearch } from "/static/chat-search.js";
import { peerOf, previewText, t, toast } from "/static/chat-text.js";
import { createThread } from "/static/chat-thread.js";

const PHONE = window.matchMedia("(max-width: 700px)");

export function mount(root, ctx) {
  const { live } = ctx;
  const me = ctx.me.id;
  const convs = new Map(); // conv id -> conversation + { last_seq, read_seq, unread, last_message, mentioned }
  const presence = new Map(); // user id -> status
  const watched = new Set();
  let currentId = null;
  let refreshTimer = null;

  root.classList.add("chat");
  root.dataset.pane = "list";
  const viewing = () => !root.hidden && document.visibilityState === "visible" && (!PHONE.matches || root.dataset.pane === "thread");

  const list = createList({ ctx, convs, presence, select });
  const search = createSearch({ ctx, convs, open: openAt, toggled: (shown) => { list.node.hidden = shown; } });
  const thread = createThread({
    ctx, viewing, onRead, onSent: receive,
    onBack: () => { root.dataset.pane = "list"; },
    presenceOf: (userId) => presence.get(userId) ?? "offline",
  });
  const newGroup = el("button", {
    type: "button", class: "new-group", title: t("new_group"), "aria-label": t("new_group"),
    onclick: () => openGroupDialog(root, { ctx, created: (conversation) => { add(conversation); list.render([conversation.id]); select(conversation.id); } }),
  }, "＋");
  root.append(el("aside", { class: "sidebar" }, el("div", { class: "toolbar" }, search.form, newGroup), search.results, list.node), thread.node);

  function add(conversation) {
    const known = convs.get(conversation.id);
    const conv = { last_seq: 0, read_seq: 0, unread: 0, last_message: null, ...known, ...conversation };
    convs.set(conv.id, conv);
    return conv;
  }

  function badge() {
    let total = 0;
    for (const conv of convs.values()) total += conv.unread ?? 0;
    ctx.badge("chat", total);
  }

  // The whole list from the server (exact unread counts); a conversation we have heard newer
  // messages of meanwhile keeps what we know.
  async function load() {
    const { conversations } = await live.call("conv:list", {});
    const listed = new Set();
    for (const fresh of conversations) {
      listed.add(fresh.id);
      const known = convs.get(fresh.id);
      if (known && known.last_seq > fresh.last_seq) add({ ...fresh, last_seq: known.last_seq, read_seq: known.read_seq, unread: known.unread, last_message: known.last_message });
      else add({ ...fresh, mentioned: Boolean(known?.mentioned && fresh.unread) });
    }
    for (const id of [...convs.keys()]) if (!listed.has(id)) convs.delete(id);
    list.render();
    badge();
    watchPresence();
    if (currentId && !convs.has(currentId)) leave(t("removed"));
    else if (currentId) {
      thread.update(convs.get(currentId));
      thread.markRead();
    }
  }

  function refreshSoon() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => load().catch(() => {}), 400);
  }

  // A message from a push, a sync or our own acknowledgement; each counts once (by seq).
  function receive(message) {
    const conv = convs.get(message.conv_id);
    if (!conv) return refreshSoon();
    if (message.seq > conv.last_seq) {
      conv.last_seq = message.seq;
      conv.last_message = {
        id: message.id, seq: message.seq, sender_id: message.sender_id, type: message.type, ts: message.ts,
        text: message.type === "file" ? message.text || message.file?.name || "" : message.text ?? "",
        recalled: Boolean(message.recalled), card: message.card ? { title: message.card.title } : undefined,
      };
      if (message.sender_id === me) {
        conv.read_seq = message.seq;
        conv.unread = 0;
        conv.mentioned = false;
      } else if (!message.recalled) {
        conv.unread += 1;
        if (message.mention) conv.mentioned = true;
      }
      list.render([conv.id]);
      badge();
    }
    if (conv.id === currentId) thread.add(message);
  }

  function onRead(convId, readSeq) {
    const conv = convs.get(convId);
    if (!conv) return;
    conv.read_seq = Math.max(conv.read_seq ?? 0, readSeq);
    if (conv.read_seq >= conv.last_seq) {
      conv.unread = 0;
      conv.mentioned = false;
    } else refreshSoon();
    list.render([convId]);
    badge();
  }

  async function watchPresence() {
    const peers = [...new Set([...convs.values()].filter((c) => c.type === "direct").map((c) => peerOf(c, me)))]
      .filter((id) => !watched.has(id)).slice(0, 1000);
    if (!peers.length) return;
    for (const id of peers) watched.add(id);
    try {
      const { presence: found } = await live.call("presence:subscribe", { user_ids: peers });
      for (const [userId, state] of Object.entries(found)) setPresence(userId, state.status);
    } catch {
      for (const id of peers) watched.delete(id);
    }
  }

  function setPresence(userId, status) {
    if (presence.get(userId) === status) return;
    presence.set(userId, status);
    list.presence(userId);
    thread.presence(userId);
  }

  function select(id) {
    const conv = convs.get(id);
    if (!conv) return null;
    root.dataset.pane = "thread";
    if (currentId === id) {
      thread.markRead();
      return null;
    }
    currentId = id;
    list.setCurrent(id);
    return thread.open(conv);
  }

  function leave(reason) {
    currentId = null;
    list.setCurrent(null);
    thread.close(reason);
    root.dataset.pane = "list";
  }

  // Opens a conversation given by id (from the directory, a search result, another view).
  async function open(detail = {}) {
    await ready;
    const convId = detail.conv_id;
    if (!convId) return;
    if (!convs.has(convId)) {
      try {
        const { conversation } = await live.call("conv:get", { conv_id: convId });
        add(conversation);
        list.render([convId]);
        watchPresence();
        refreshSoon();
      } catch (error) {
        toast(root, t("error", { message: error.message }));
        return;
      }
    }
    await select(convId);
  }

  async function openAt(convId, message) {
    await open({ conv_id: convId });
    await thread.reveal(message.id);
  }

  // Everything after the seqs we know of, page by page.
  async function sync() {
    const cursors = {};
    for (const conv of convs.values()) cursors[conv.id] = conv.last_seq ?? 0;
    for (let page = 0; page < 20; page += 1) {
      const { messages, has_more: more } = await live.call("msg:sync", { cursors });
      for (const message of messages) {
        receive(message);
        cursors[message.conv_id] = Math.max(cursors[message.conv_id] ?? 0, message.seq);
      }
      if (!more || !messages.length) return;
    }
  }

  live.on("msg:new", ({ message }) => receive(message));
  live.on("msg:recalled", (recall) => {
    thread.onRecalled(recall);
    const conv = convs.get(recall.conv_id);
    if (!conv) return;
    if (conv.last_message?.id === recall.msg_id && !conv.last_message.recalled) {
      conv.last_message = { ...conv.last_message, recalled: true, text: "" };
      list.render([conv.id]);
    }
    if (recall.seq > (conv.read_seq ?? 0) && conv.unread) refreshSoon();
  });
  live.on("msg:edited", ({ message }) => {
    thread.onEdited(message);
    const conv = convs.get(message.conv_id);
    if (conv?.last_message?.id === message.id) {
      conv.last_message = { ...conv.last_message, text: message.text.slice(0, 100) };
      list.render([conv.id]);
    }
  });
  live.on("msg:receipt", (receipt) => {
    if (receipt.user_id === me) onRead(receipt.conv_id, receipt.read_seq);
    else thread.onReceipt(receipt);
  });
  live.on("msg:urgent", ({ message }) => {
    receive(message);
    toast(root, `${t("urgent")} · ${previewText(message)}`);
  });
  live.on("typing", (typing) => thread.onTyping(typing));
  live.on("presence", ({ user_id: userId, status }) => setPresence(userId, status));
  live.on("conv:new", ({ conversation }) => {
    add(conversation);
    list.render([conversation.id]);
    watchPresence();
    refreshSoon();
  });
  live.on("conv:updated", ({ conversation }) => {
    if (!convs.has(conversation.id)) refreshSoon();
    const conv = add(conversation);
    list.render([conv.id]);
    thread.update(conv);
  });
  live.on("conv:removed", ({ conv_id: convId }) => {
    convs.delete(convId);
    list.render();
    badge();
    if (currentId === convId) leave(t("removed"));
  });
  live.on("conv:dissolved", ({ conv_id: convId }) => {
    const conv = convs.get(convId);
    if (!conv) return;
    conv.dissolved = true;
    list.render([convId]);
    thread.update(conv);
  });

  live.addEventListener("live:restored", async () => {
    watched.clear();
    watchPresence();
    try {
      await sync();
    } catch (error) {
      // A conversation we were removed from meanwhile: start again from the list.
      await load().then(sync).catch(() => {});
    }
    thread.restored();
  });
  live.addEventListener("live:reset", async () => {
    await load().catch(() => {});
    if (currentId && convs.has(currentId)) {
      const id = currentId;
      currentId = null;
      select(id);
    }
  });
  document.addEventListener("visibilitychange", () => thread.markRead());
  new MutationObserver(() => thread.markRead()).observe(root, { attributes: true, attributeFilter: ["hidden", "data-pane"] });

  const ready = load().catch((error) => toast(root, t("error", { message: error.message })));
  return { open };
}
