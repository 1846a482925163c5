// 通讯录: the department tree, search by name or pinyin initials, a colleague's card with the
// people who approve their requests, and a button to start a chat with them.
import { el, fill } from "/static/dom.js";
import { translations } from "/static/i18n.js";

const t = translations({
  "zh-CN": {
    search: "搜索姓名 / 拼音首字母", none: "无结果", name: "姓名", title: "职务", head: "部门负责人",
    leader: "分管领导", unit_head: "单位主要领导", parent: "上级单位", hr: "人事", chat: "发消息", back: "返回",
  },
  en: {
    search: "Search name / pinyin initials", none: "No one found", name: "Name", title: "Title", head: "Head of department",
    leader: "Leader in charge", unit_head: "Head of unit", parent: "Parent unit", hr: "HR", chat: "Message", back: "Back",
  },
});

export function mount(root, ctx) {
  const tree = el("ul", { class: "tree" });
  const people = el("ul", { class: "people" });
  const person = el("aside", { class: "person", hidden: true });
  const search = el("input", { type: "search", class: "search", placeholder: t("search"), "aria-label": t("search") });
  root.classList.add("directory");
  root.append(el("nav", { class: "departments" }, tree), el("div", { class: "found" }, search, people), person);

  function renderTree(departments, container) {
    for (const dept of departments) {
      const button = el("button", { type: "button", title: dept.id, onclick: () => selectDepartment(dept.id, button) }, dept.name);
      const item = el("li", {}, button);
      if (dept.children.length) item.append(renderTree(dept.children, el("ul")));
      container.append(item);
    }
    return container;
  }

  function renderPeople(users) {
    fill(people, users.length ? null : el("li", {}, t("none")));
    for (const user of users) {
      people.append(el("li", {}, el("button", { type: "button", dataset: { user: user.id }, onclick: () => showPerson(user) },
        `${user.name} · ${user.title || user.username}`)));
    }
  }

  async function selectDepartment(deptId, button) {
    root.querySelectorAll(".tree button.selected").forEach((b) => b.classList.remove("selected"));
    button.classList.add("selected");
    const { users } = await ctx.call("GET", `/api/v1/directory/users?dept_id=${encodeURIComponent(deptId)}`);
    renderPeople(users);
    root.dataset.pane = "people";
  }

  async function showPerson(user) {
    const { routing } = await ctx.call("GET", `/api/v1/directory/users/${encodeURIComponent(user.id)}/routing`);
    const rows = [
      ["name", `${user.name}（${user.username}）`], ["title", user.title], ["head", routing.department_head],
      ["leader", routing.leader_in_charge], ["unit_head", routing.unit_head], ["parent", routing.parent_unit_id], ["hr", routing.unit_hr],
    ];
    const list = el("dl");
    for (const [label, value] of rows) list.append(el("dt", {}, t(label)), el("dd", {}, value ?? "—"));
    const chat = user.id === ctx.me.id ? null : el("button", { type: "button", class: "primary", onclick: () => startChat(user.id) }, t("chat"));
    fill(person, el("button", { type: "button", class: "back", onclick: () => { root.dataset.pane = "people"; } }, t("back")),
      el("h3", {}, user.name), list, chat);
    person.hidden = false;
    root.dataset.pane = "person";
  }

  async function startChat(userId) {
    const { conversation } = await ctx.live.call("conv:create", { type: "direct", members: [userId] });
    ctx.show("chat", { conv_id: conversation.id });
  }

  let timer;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    const q = search.value.trim();
    if (!q) return;
    timer = setTimeout(async () => {
      const { users } = await ctx.call("GET", `/api/v1/directory/users?q=${encodeURIComponent(q)}`);
      renderPeople(users);
      root.dataset.pane = "people";
    }, 250);
  });

  ctx.call("GET", "/api/v1/directory/departments").then(({ departments }) => renderTree(departments, tree));
  return {};
}
