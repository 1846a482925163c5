// Cards (PROTOCOL §4): `renderCard(card, ctx)` builds the element of one card as this viewer
// sees it, with the actions open to them. Every element of a card updates itself in place: a
// pushed `card:update`, the reply to an act, or the current card that comes with a `conflict`
// re-render all of them. The chat view shows card messages with it; the work view its boxes.
//
// The element is an <article class="card" data-card-id data-version data-status>. It fires a
// bubbling "card:acted" event ({ detail: { card } }) once an act of this viewer took effect.
import { download } from "/static/api.js";
import { el, fill } from "/static/dom.js";
import { formatDateTime, translations } from "/static/i18n.js";

const t = translations({
  "zh-CN": {
    fields: "详情", attachments: "附件", timeline: "流转记录", submit: "提交", cancel: "取消", retry: "重试",
    comment: "意见", date: "日期", choose: "请选择", required: "必填", required_missing: "请填写此项",
    handled_by: "已由 {name} 处理", handled_by_decision: "已由 {name} 处理（{decision}）", working: "处理中…",
    masked: "已脱敏", open_link: "打开", download_failed: "下载失败：{message}", bad_link: "链接不可用",
    pending: "待处理", approved: "已同意", rejected: "已驳回", registered: "已登记", issued: "已发放", done: "已办结",
    recorded: "已备案", reminder: "催办", overdue: "逾期", info: "通知", signed: "已签", scheduled: "已安排",
    live: "进行中", ended: "已结束", cancelled: "已取消",
    approve: "同意", reject: "驳回", register: "登记", issue: "发放", sign: "签阅", record: "登记", propose: "拟办",
    instruct: "批示", receive: "签收", complete: "办结", submit_decision: "提交",
  },
  en: {
    fields: "Details", attachments: "Attachments", timeline: "History", submit: "Submit", cancel: "Cancel", retry: "Retry",
    comment: "Comment", date: "Date", choose: "Choose…", required: "required", required_missing: "Please fill this in",
    handled_by: "Already handled by {name}", handled_by_decision: "Already handled by {name} ({decision})", working: "Working…",
    masked: "masked", open_link: "Open", download_failed: "Download failed: {message}", bad_link: "Link unavailable",
    pending: "Pending", approved: "Approved", rejected: "Rejected", registered: "Registered", issued: "Issued", done: "Done",
    recorded: "Recorded", reminder: "Reminder", overdue: "Overdue", info: "Notice", signed: "Signed", scheduled: "Scheduled",
    live: "Live", ended: "Ended", cancelled: "Cancelled",
    approve: "Approve", reject: "Reject", register: "Register", issue: "Issue", sign: "Sign", record: "Record", propose: "Propose",
    instruct: "Instruct", receive: "Receive", complete: "Complete", submit_decision: "Submit",
  },
});

const STATUSES = new Set(["pending", "approved", "rejected", "registered", "issued", "done", "recorded", "reminder",
  "overdue", "info", "signed", "scheduled", "live", "ended", "cancelled"]);
const DECISIONS = new Set(["approve", "reject", "register", "issue", "sign", "record", "propose", "instruct", "receive", "complete"]);
const TRANSIENT = new Set(["unavailable", "timeout", "internal"]);

// card_id -> { card (the newest seen), refs: Set<WeakRef<element>> }
const registry = new Map();
// element -> its state: { ctx, card, form, pending, busy, error, retry, notice }
const states = new WeakMap();
// The live connections that already carry our `card:update` handler (one per ctx).
const listening = new WeakSet();

export function statusLabel(status) {
  return STATUSES.has(status) ? t(status) : status;
}

export function decisionLabel(decision) {
  return DECISIONS.has(decision) ? t(decision) : decision;
}

let rendered = 0;

export function renderCard(card, ctx) {
  listen(ctx);
  if (++rendered % 200 === 0) sweep();
  const entry = remember(card);
  const node = el("article", { class: "card", dataset: { cardId: card.card_id } });
  states.set(node, { ctx, card: entry.card, form: null, pending: null, busy: false, error: "", retry: false, notice: "" });
  entry.refs.add(new WeakRef(node));
  draw(node);
  return node;
}

// The newest card known for its id: a card older than one already shown never rolls it back.
function remember(card) {
  let entry = registry.get(card.card_id);
  if (!entry) {
    entry = { card, refs: new Set() };
    registry.set(card.card_id, entry);
  } else if (card.version >= entry.card.version) {
    entry.card = card;
  }
  return entry;
}

// Forgets elements that were collected, and cards that no element shows any more.
function sweep() {
  for (const [cardId, entry] of registry) {
    for (const ref of entry.refs) if (!ref.deref()) entry.refs.delete(ref);
    if (!entry.refs.size) registry.delete(cardId);
  }
}

function listen(ctx) {
  const live = ctx?.live;
  if (!live || listening.has(live)) return;
  listening.add(live);
  live.on("card:update", (data) => { if (data?.card) update(data.card); });
}

// Re-render every living element of the card that shows an older version (a replayed
// update it has seen already changes nothing, so a comment being typed stays as it is).
function update(card) {
  const entry = registry.get(card.card_id);
  if (!entry) return;
  if (card.version >= entry.card.version) entry.card = card;
  for (const ref of entry.refs) {
    const node = ref.deref();
    if (!node) { entry.refs.delete(ref); continue; }
    const state = states.get(node);
    if (state.card.version < entry.card.version) {
      state.card = entry.card;
      draw(node);
    }
  }
  if (!entry.refs.size) registry.delete(card.card_id);
}

function draw(node) {
  const state = states.get(node);
  const { card } = state;
  if (state.form && !(card.actions ?? []).some((a) => a.id === state.form.action)) state.form = null;
  node.dataset.version = String(card.version);
  node.dataset.status = card.status;
  if (card.flow) node.dataset.flow = card.flow;
  node.setAttribute("aria-busy", String(state.busy));
  fill(node,
    el("header", { class: "card-head" },
      el("h3", { class: "card-title" }, card.title),
      el("span", { class: `card-status status-${card.status}` }, statusLabel(card.status))),
    renderFields(card.fields ?? []),
    renderAttachments(node, card.attachments ?? []),
    renderTimeline(state.ctx, card.timeline ?? []),
    state.notice ? el("p", { class: "card-notice", role: "status" }, state.notice) : null,
    state.error ? el("p", { class: "card-error", role: "alert" }, state.error,
      state.retry ? el("button", { type: "button", class: "card-retry", onclick: () => send(node) }, t("retry")) : null) : null,
    state.form ? renderForm(node) : renderActions(node));
}

function renderFields(fields) {
  if (!fields.length) return null;
  const list = el("dl", { class: "card-fields", "aria-label": t("fields") });
  for (const field of fields) {
    list.append(el("div", { class: "card-field" },
      el("dt", {}, field.label),
      el("dd", { class: field.sensitive ? "sensitive" : null }, field.value ?? "",
        field.masked ? el("span", { class: "masked-note" }, ` ${t("masked")}`) : null)));
  }
  return list;
}

function renderAttachments(node, attachments) {
  if (!attachments.length) return null;
  return el("ul", { class: "card-attachments", "aria-label": t("attachments") }, attachments.map((file) =>
    el("li", {}, el("button", {
      type: "button", class: "card-file", dataset: { fileId: file.id },
      onclick: () => download(`/api/v1/files/${encodeURIComponent(file.id)}`, file.name).catch((error) => {
        const state = states.get(node);
        state.error = t("download_failed", { message: error.message });
        state.retry = false;
        draw(node);
      }),
    }, file.name, el("span", { class: "size" }, ` ${size(file.size)}`)))));
}

function size(bytes) {
  if (!Number.isFinite(bytes)) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function renderTimeline(ctx, timeline) {
  if (!timeline.length) return null;
  return el("ol", { class: "card-timeline", "aria-label": t("timeline") }, timeline.map((entry) => {
    const actor = el("span", { class: "actor", dataset: { userId: entry.actor_id } }, entry.actor_id);
    nameOf(ctx, entry.actor_id).then((name) => { actor.textContent = name; });
    return el("li", {},
      entry.step ? el("span", { class: "step" }, entry.step) : null,
      actor,
      el("span", { class: `decision decision-${entry.decision}` }, decisionLabel(entry.decision)),
      entry.comment ? el("q", { class: "comment" }, entry.comment) : null,
      entry.at ? el("time", { datetime: entry.at }, formatDateTime(entry.at)) : null);
  }));
}

function nameOf(ctx, userId) {
  return (ctx?.nameOf?.(userId) ?? Promise.resolve(userId)).catch(() => userId);
}

function renderActions(node) {
  const { card, busy } = states.get(node);
  if (!card.actions?.length) return null;
  return el("div", { class: "card-actions" }, card.actions.map((action) => {
    const style = action.style ? ` ${action.style}` : "";
    if (action.url) return renderLink(action, style);
    return el("button", {
      type: "button", class: `card-action${style}`, dataset: { action: action.id }, disabled: busy,
      onclick: () => choose(node, action),
    }, action.label);
  }));
}

// A link action (入会, 查看): a page of this site opens here (a meeting at /meetings/<id>);
// another site in a new tab; anything that is not http(s) is not a link at all.
function renderLink(action, style) {
  let url;
  try {
    url = new URL(action.url, location.href);
  } catch {
    url = null;
  }
  if (!url || !["http:", "https:"].includes(url.protocol)) {
    return el("span", { class: `card-action link disabled${style}`, title: t("bad_link") }, action.label);
  }
  const here = url.origin === location.origin;
  return el("a", {
    class: `card-action link${style}`, href: url.href, dataset: { action: action.id },
    target: here ? null : "_blank", rel: here ? null : "noopener noreferrer",
  }, action.label);
}

function choose(node, action) {
  const state = states.get(node);
  if (state.busy) return;
  state.notice = "";
  state.error = "";
  state.retry = false;
  if (action.inputs?.length) {
    state.form = { action: action.id, values: {}, errors: {} };
    draw(node);
    node.querySelector(".card-form [name]")?.focus();
    return;
  }
  act(node, action, {});
}

function inputLabel(input) {
  if (input.id === "comment") return t("comment");
  if (input.id === "date") return t("date");
  return input.id;
}

function renderForm(node) {
  const state = states.get(node);
  const action = state.card.actions.find((a) => a.id === state.form.action);
  const { values, errors } = state.form;
  const form = el("form", { class: "card-form", novalidate: true, dataset: { action: action.id } });
  for (const input of action.inputs) {
    const id = `card-${state.card.card_id}-${action.id}-${input.id}-${Math.random().toString(36).slice(2, 8)}`;
    let control;
    if (input.type === "select") {
      control = el("select", { id, name: input.id },
        el("option", { value: "" }, t("choose")),
        (input.options ?? []).map((option) => el("option", { value: option, selected: values[input.id] === option }, option)));
    } else if (input.type === "date") {
      control = el("input", { id, name: input.id, type: "date", value: values[input.id] ?? "" });
    } else {
      control = el("textarea", { id, name: input.id, rows: 2, maxlength: 2000 });
      control.value = values[input.id] ?? "";
    }
    if (input.required) control.setAttribute("aria-required", "true");
    control.addEventListener("input", () => { values[input.id] = control.value; });
    control.addEventListener("change", () => { values[input.id] = control.value; });
    form.append(el("div", { class: "card-input" },
      el("label", { for: id }, inputLabel(input),
        input.required ? el("span", { class: "required", title: t("required") }, " *") : null),
      control,
      errors[input.id] ? el("span", { class: "field-error", role: "alert" }, errors[input.id]) : null));
  }
  const style = action.style ? ` ${action.style}` : " primary";
  form.append(el("div", { class: "card-actions" },
    el("button", { type: "submit", class: `card-submit${style}`, disabled: state.busy }, action.label || t("submit")),
    el("button", { type: "button", class: "card-cancel", disabled: state.busy, onclick: () => { state.form = null; state.error = ""; draw(node); } }, t("cancel"))));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const missing = {};
    const inputs = {};
    for (const input of action.inputs) {
      const value = (values[input.id] ?? "").trim();
      if (value) inputs[input.id] = value;
      else if (input.required) missing[input.id] = t("required_missing");
    }
    state.form.errors = missing;
    if (Object.keys(missing).length) { draw(node); node.querySelector(".card-form .field-error")?.previousElementSibling?.focus(); return; }
    act(node, action, inputs);
  });
  return form;
}

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// One click: a fresh idempotency key, kept for a retry of the same click (the 重试 button, or
// the same act sent again after a failure that left its outcome unknown).
function act(node, action, inputs) {
  const state = states.get(node);
  const { pending } = state;
  const again = pending && pending.action === action.id && pending.version === state.card.version &&
    JSON.stringify(pending.inputs) === JSON.stringify(inputs);
  if (!again) state.pending = { action: action.id, inputs, version: state.card.version, key: uuid() };
  send(node);
}

async function send(node) {
  const state = states.get(node);
  const { pending } = state;
  if (!pending || state.busy) return;
  state.busy = true;
  state.error = "";
  state.retry = false;
  state.notice = "";
  draw(node);
  try {
    const { card } = await state.ctx.live.call("card:act", {
      card_id: state.card.card_id, action: pending.action, version: pending.version,
      idempotency_key: pending.key, inputs: pending.inputs,
    });
    state.busy = false;
    state.pending = null;
    state.form = null;
    show(node, card);
    node.dispatchEvent(new CustomEvent("card:acted", { bubbles: true, detail: { card } }));
  } catch (error) {
    state.busy = false;
    if (error.code === "conflict" && error.details?.card) {
      state.pending = null;
      state.form = null;
      const current = error.details.card;
      const last = current.timeline?.[current.timeline.length - 1];
      state.notice = last ? t("handled_by_decision", { name: last.actor_id, decision: decisionLabel(last.decision) }) : error.message;
      show(node, current);
      if (last) {
        nameOf(state.ctx, last.actor_id).then((name) => {
          if (!state.notice) return;
          state.notice = t("handled_by_decision", { name, decision: decisionLabel(last.decision) });
          draw(node);
        });
      }
      return;
    }
    if (TRANSIENT.has(error.code) || !error.code) {
      state.error = error.message;
      state.retry = true;
      draw(node);
      return;
    }
    state.pending = null;
    const field = /^inputs\.(\w+):/.exec(error.message ?? "");
    if (field && state.form) state.form.errors = { [field[1]]: error.message };
    else state.error = error.message;
    draw(node);
    if (error.code === "forbidden" || error.code === "not_found") refresh(node);
  }
}

// The card as it is now, for every element of it (and this one even when it is not newer).
function show(node, card) {
  const state = states.get(node);
  remember(card);
  update(card);
  if (state.card.version <= card.version) state.card = card;
  draw(node);
}

async function refresh(node) {
  const state = states.get(node);
  try {
    const { card } = await state.ctx.live.call("card:get", { card_id: state.card.card_id });
    update(card);
  } catch {
    // The card stays as it was; the error is on it already.
  }
}
