// What the chat modules share: their strings (Chinese first), names filled in as they resolve,
// and small formatting helpers. Every string goes into the DOM as text, never as markup.
import { el } from "/static/dom.js";
import { dayOf, formatDateTime, formatTime, translations } from "/static/i18n.js";

export const t = translations({
  "zh-CN": {
    empty: "选择一个会话开始聊天", no_convs: "暂无会话", search: "搜索聊天记录", new_group: "发起群聊",
    back: "返回", send: "发送", attach: "发送文件", write: "输入消息…", file: "文件", placeholder: "输入消息，Enter 发送，Shift+Enter 换行",
    load_older: "加载更早的消息", no_more: "没有更早的消息了", loading: "加载中…",
    typing: "{name} 正在输入…", recalled: "{name} 撤回了一条消息", recalled_me: "你撤回了一条消息",
    recall: "撤回", edit: "编辑", save: "保存", cancel: "取消", edited: "（已编辑）",
    unread: "未读", read: "已读", n_unread: "{n}人未读", all_read: "全部已读",
    readers: "消息接收情况", read_list: "已读（{n}）", unread_list: "未读（{n}）", nobody: "无",
    sending: "发送中…", failed: "发送失败，点击重试", uploading: "正在上传 {name}…",
    download: "下载", file_preview: "[文件] {name}", card_preview: "[卡片] {title}", system_preview: "[系统消息]",
    mentioned: "[有人@我]", all: "所有人", members: "{n}人", dissolved: "该群已解散，不能再发送消息",
    removed: "你已不在该会话中", notifications: "工作通知", notifications_hint: "工作通知由系统发送，无需回复",
    online: "在线", away: "离开", offline: "离线", search_none: "没有找到相关消息", close: "关闭",
    group_title: "群名称（可选）", pick: "搜索同事：姓名 / 拼音首字母", create: "创建群聊", picked: "已选 {n} 人",
    pick_someone: "请至少选择一位同事", urgent: "DING", ack: "确认收到", acked: "已确认",
    sys_members_added: "{by} 邀请 {names} 加入了群聊", sys_members_removed: "{by} 将 {names} 移出了群聊",
    sys_left: "{names} 退出了群聊", sys_title: "{by} 将群名称修改为“{title}”", sys_announcement: "{by} 发布了群公告：{text}",
    sys_history: "{by} 修改了新成员可见的历史消息设置", sys_admin_on: "{by} 将 {name} 设为管理员",
    sys_admin_off: "{by} 取消了 {name} 的管理员身份", sys_owner: "{by} 将群主转让给 {name}",
    sys_dissolved: "{by} 解散了该群", sys_other: "群设置已更新", error: "操作失败：{message}",
    announcement: "群公告", new_messages: "有新消息 ↓",
  },
  en: {
    empty: "Pick a conversation to start chatting", no_convs: "No conversations yet", search: "Search messages",
    new_group: "New group", back: "Back", send: "Send", attach: "Send a file", write: "Type a message…", file: "File",
    placeholder: "Type a message; Enter sends, Shift+Enter adds a line",
    load_older: "Load older messages", no_more: "No older messages", loading: "Loading…",
    typing: "{name} is typing…", recalled: "{name} recalled a message", recalled_me: "You recalled a message",
    recall: "Recall", edit: "Edit", save: "Save", cancel: "Cancel", edited: " (edited)",
    unread: "Unread", read: "Read", n_unread: "{n} unread", all_read: "All read",
    readers: "Who has read it", read_list: "Read ({n})", unread_list: "Unread ({n})", nobody: "Nobody",
    sending: "Sending…", failed: "Not sent; click to retry", uploading: "Uploading {name}…",
    download: "Download", file_preview: "[File] {name}", card_preview: "[Card] {title}", system_preview: "[Notice]",
    mentioned: "[Mentioned you]", all: "Everyone", members: "{n} people", dissolved: "This group was dissolved; nothing more can be sent",
    removed: "You are no longer in this conversation", notifications: "Work notifications",
    notifications_hint: "Work notifications are sent by the system", online: "Online", away: "Away", offline: "Offline",
    search_none: "No messages found", close: "Close", group_title: "Group name (optional)",
    pick: "Find colleagues: name / pinyin initials", create: "Create group", picked: "{n} picked",
    pick_someone: "Pick at least one colleague", urgent: "DING", ack: "Got it", acked: "Acknowledged",
    sys_members_added: "{by} added {names}", sys_members_removed: "{by} removed {names}", sys_left: "{names} left",
    sys_title: "{by} renamed the group to “{title}”", sys_announcement: "{by} posted an announcement: {text}",
    sys_history: "{by} changed what new members may see", sys_admin_on: "{by} made {name} an admin",
    sys_admin_off: "{by} removed {name} as admin", sys_owner: "{by} handed the group over to {name}",
    sys_dissolved: "{by} dissolved the group", sys_other: "The group was updated", error: "Failed: {message}",
    announcement: "Announcement", new_messages: "New messages ↓",
  },
});

// A text node's parent that shows `text(names)` once the users' names are known.
export function withNames(ctx, userIds, text, tag = "span", attrs = {}) {
  const node = el(tag, attrs, text(userIds));
  Promise.all(userIds.map((id) => ctx.nameOf(id))).then((names) => { node.textContent = text(names); });
  return node;
}

export const nameNode = (ctx, userId, attrs = { class: "name" }) => withNames(ctx, [userId], ([name]) => name, "span", attrs);

// The other person of a direct chat.
export const peerOf = (conv, me) => conv.members.find((id) => id !== me) ?? me;

export function convTitle(ctx, conv, attrs = { class: "title" }) {
  if (conv.type === "notifications") return el("span", attrs, t("notifications"));
  if (conv.type === "direct") return nameNode(ctx, peerOf(conv, ctx.me.id), attrs);
  return el("span", attrs, conv.title || conv.id);
}

export const isManager = (conv, me) =>
  (conv.type === "group" || conv.type === "department") && (conv.owner_id === me || (conv.admins ?? []).includes(me));

export function when(iso) {
  if (!iso) return "";
  return dayOf(iso) === dayOf(new Date().toISOString()) ? formatTime(iso) : formatDateTime(iso);
}

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// A client_msg_id: random, and available outside secure contexts too.
export function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

// The one-line summary of a message for the conversation list and search results.
export function previewText(message) {
  if (message.type === "file") return t("file_preview", { name: message.text || message.file?.name || "" });
  if (message.type === "card") return t("card_preview", { title: message.card?.title ?? message.text ?? "" }).trim();
  if (message.type === "system") return message.text || t("system_preview");
  return message.text ?? "";
}

// `snippet` with each [start, end) of `highlights` (code-point offsets) in a <mark>.
export function marked(snippet, highlights) {
  const chars = Array.from(snippet);
  const parts = [];
  let at = 0;
  for (const [start, end] of [...highlights].sort((a, b) => a[0] - b[0])) {
    if (start < at || end <= start) continue;
    parts.push(chars.slice(at, start).join(""), el("mark", {}, chars.slice(start, end).join("")));
    at = end;
  }
  parts.push(chars.slice(at).join(""));
  return parts.filter((part) => part !== "");
}

// A short message at the top of the view that goes away by itself.
export function toast(host, message) {
  const note = el("div", { class: "toast", role: "alert" }, message);
  host.append(note);
  setTimeout(() => note.remove(), 4000);
}
