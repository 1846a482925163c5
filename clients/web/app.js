// The shell: sign in, one live connection, and the views (chat, work, contacts, rooms) as
// tabs; a top bar on a desktop, a bottom bar on a phone. Each view module exports
// `mount(root, ctx)` and may return `{ open(detail) }` for other views to send the user there.
import { ApiError, call, login, session } from "/static/api.js";
import { $, el, fill } from "/static/dom.js";
import { translations } from "/static/i18n.js";
import { Live } from "/static/live.js";
import { nameOf as directoryName } from "/static/names.js";
import * as chat from "/static/chat.js";
import * as work from "/static/work.js";
import * as contacts from "/static/directory.js";
import * as rooms from "/static/rooms.js";

const t = translations({
  "zh-CN": {
    title: "登录", username: "用户名", password: "密码", submit: "登录", logout: "退出",
    retry: "（{s} 秒后重试）", chat: "消息", work: "工作台", contacts: "通讯录", rooms: "会议室",
    online: "已连接", reconnecting: "正在重新连接…", connecting: "连接中…", revoked: "登录已失效，请重新登录", system: "系统",
  },
  en: {
    title: "Sign in", username: "Username", password: "Password", submit: "Sign in", logout: "Sign out",
    retry: " (retry in {s} s)", chat: "Chats", work: "Work", contacts: "Contacts", rooms: "Rooms",
    online: "Online", reconnecting: "Reconnecting…", connecting: "Connecting…", revoked: "Your session ended; please sign in again", system: "System",
  },
});

const VIEWS = { chat, work, contacts, rooms };
const opened = {};
const badges = {};

fill($("login-title"), t("title"));
fill($("login-username"), t("username"));
fill($("login-password"), t("password"));
fill($("login-submit"), t("submit"));
fill($("logout"), t("logout"));

function show(name, detail) {
  for (const [view, button] of Object.entries(badges)) {
    const active = view === name;
    button.setAttribute("aria-selected", String(active));
    $(`view-${view}`).hidden = !active;
  }
  document.body.dataset.view = name;
  if (detail !== undefined) opened[name]?.open?.(detail);
  history.replaceState(null, "", `#${name}`);
}

function badge(name, count) {
  const counter = badges[name]?.querySelector(".badge");
  if (!counter) return;
  counter.textContent = count > 99 ? "99+" : String(count);
  counter.hidden = !count;
}

// The system's notices and cards are signed "system", which the directory does not know.
const nameOf = (userId) => (userId === "system" ? Promise.resolve(t("system")) : directoryName(userId));

function showConnection(live) {
  const status = $("connection");
  live.addEventListener("live:state", ({ detail }) => {
    status.hidden = detail.state === "online";
    status.textContent = t(detail.state);
    document.body.dataset.connection = detail.state;
  });
  live.addEventListener("live:revoked", () => {
    session.clear();
    status.hidden = false;
    status.textContent = t("revoked");
    setTimeout(() => location.reload(), 1500);
  });
}

async function enter() {
  const { user } = await call("GET", "/api/v1/auth/me");
  fill($("me"), `${user.name} · ${user.title ?? ""}`);
  $("whoami").hidden = false;
  $("login").hidden = true;
  const live = new Live();
  showConnection(live);
  await live.start();
  const ctx = { me: user, live, call, show, badge, nameOf };
  const tabs = $("tabs");
  for (const [name, view] of Object.entries(VIEWS)) {
    const button = el("button", { type: "button", role: "tab", dataset: { view: name }, onclick: () => show(name) },
      el("span", { class: "label" }, t(name)), el("span", { class: "badge", hidden: true }));
    badges[name] = button;
    tabs.append(button);
    const root = el("section", { id: `view-${name}`, class: "view", hidden: true });
    $("views").append(root);
    opened[name] = view.mount(root, ctx) ?? {};
  }
  tabs.hidden = false;
  $("views").hidden = false;
  const wanted = location.hash.slice(1);
  show(VIEWS[wanted] ? wanted : "chat");
  window.xietong = ctx; // for the console and for browser tests
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    await login(form.get("username"), form.get("password"));
    $("login-error").textContent = "";
    // Pages that need a session (a meeting link) send the user here and back.
    const next = new URLSearchParams(location.search).get("next");
    if (next?.startsWith("/") && !next.startsWith("//")) return location.assign(next);
    await enter();
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    const wait = error.details?.retry_after_ms;
    $("login-error").textContent = error.message + (wait ? t("retry", { s: Math.ceil(wait / 1000) }) : "");
  }
});
$("logout").addEventListener("click", () => { session.clear(); location.replace("/"); });
if (session.get()) enter().catch(() => { session.clear(); location.reload(); });
