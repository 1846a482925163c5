// What the meeting page's panels share: a person's name as an element (names.js), errors
// said in the reader's language, and the roll of a meeting (PROTOCOL §6).
import { el } from "/static/dom.js";
import { translations } from "/static/i18n.js";
import { knownName, nameOf } from "/static/names.js";

export const t = translations({
  "zh-CN": {
    "error.forbidden": "没有权限",
    "error.not_found": "找不到该对象",
    "error.conflict": "操作冲突，请刷新后重试",
    "error.gone": "会议已结束",
    "error.bad_request": "输入有误：{message}",
    "error.too_large": "文件太大",
    "error.unavailable": "服务暂不可用，请稍后重试",
    "error.timeout": "服务器没有响应",
    "error.rate_limited": "操作太频繁，请稍后重试",
    "error.unauthorized": "登录已失效，请重新登录",
    "error.other": "出错了：{message}",
  },
  en: {
    "error.forbidden": "Not allowed",
    "error.not_found": "Not found",
    "error.conflict": "Conflicting change; refresh and try again",
    "error.gone": "The meeting is over",
    "error.bad_request": "Invalid input: {message}",
    "error.too_large": "The file is too large",
    "error.unavailable": "Service unavailable; try again shortly",
    "error.timeout": "The server did not answer",
    "error.rate_limited": "Too many requests; try again shortly",
    "error.unauthorized": "Your session has expired; sign in again",
    "error.other": "Something went wrong: {message}",
  },
});

const KNOWN = new Set(["forbidden", "not_found", "conflict", "gone", "bad_request", "too_large",
  "unavailable", "timeout", "rate_limited", "unauthorized"]);

// A SocketError or ApiError as the reader should see it.
export function describe(error) {
  const code = error?.code;
  return t(KNOWN.has(code) ? `error.${code}` : "error.other", { message: error?.message ?? String(error) });
}

// A span showing a person's name: the id until the directory answers, then the name.
export function nameNode(userId, tag = "span", attrs = {}) {
  const node = el(tag, { class: "name", title: userId, ...attrs }, knownName(userId) ?? userId);
  if (knownName(userId) === undefined) nameOf(userId).then((name) => { node.textContent = name; });
  return node;
}

// Organiser, hosts and invitees, each once, in that order: who signs in and votes.
export function rollOf(meeting) {
  if (!meeting) return [];
  return [...new Set([meeting.organiser, ...(meeting.hosts ?? []), ...(meeting.invitees ?? [])])];
}
