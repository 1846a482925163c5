// The entry page: sign in, browse the organisation, look a colleague up.
import { ApiError, call, login, session } from "/static/api.js";

const $ = (id) => document.getElementById(id);
const el = (tag, text, attrs = {}) => {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  Object.assign(node, attrs);
  return node;
};

function showError(error) {
  const retry = error.details?.retry_after_ms ? `（${Math.ceil(error.details.retry_after_ms / 1000)} 秒后重试）` : "";
  $("login-error").textContent = `${error.message}${retry}`;
}

function renderTree(departments, container) {
  for (const dept of departments) {
    const item = el("li");
    const button = el("button", dept.name, { type: "button", title: dept.id });
    button.addEventListener("click", () => selectDepartment(dept.id, button));
    item.append(button);
    if (dept.children.length) {
      const children = el("ul");
      renderTree(dept.children, children);
      item.append(children);
    }
    container.append(item);
  }
}

function renderPeople(users) {
  const list = $("people");
  list.replaceChildren();
  if (!users.length) list.append(el("li", "无结果"));
  for (const user of users) {
    const button = el("button", `${user.name} · ${user.title || user.username}`, { type: "button" });
    button.addEventListener("click", () => showPerson(user));
    list.append(el("li")).append(button);
  }
}

async function selectDepartment(deptId, button) {
  document.querySelectorAll("#tree button.selected").forEach((b) => b.classList.remove("selected"));
  button.classList.add("selected");
  const { users } = await call("GET", `/api/v1/directory/users?dept_id=${encodeURIComponent(deptId)}`);
  renderPeople(users);
}

async function showPerson(user) {
  const { routing } = await call("GET", `/api/v1/directory/users/${encodeURIComponent(user.id)}/routing`);
  const card = $("person");
  const rows = [
    ["姓名", `${user.name}（${user.username}）`], ["职务", user.title], ["部门负责人", routing.department_head],
    ["分管领导", routing.leader_in_charge], ["单位主要领导", routing.unit_head],
    ["上级单位", routing.parent_unit_id], ["人事", routing.unit_hr],
  ];
  const list = el("dl");
  for (const [label, value] of rows) list.append(el("dt", label), el("dd", value ?? "—"));
  card.replaceChildren(el("h3", user.name), list);
  card.hidden = false;
}

let searchTimer;
function onSearch(event) {
  clearTimeout(searchTimer);
  const q = event.target.value.trim();
  if (!q) return;
  searchTimer = setTimeout(async () => {
    const { users } = await call("GET", `/api/v1/directory/users?q=${encodeURIComponent(q)}`);
    renderPeople(users);
  }, 250);
}

async function enter() {
  const { user } = await call("GET", "/api/v1/auth/me");
  $("me").textContent = `${user.name} · ${user.title}`;
  $("whoami").hidden = false;
  $("login").hidden = true;
  $("directory").hidden = false;
  const { departments } = await call("GET", "/api/v1/directory/departments");
  $("tree").replaceChildren();
  renderTree(departments, $("tree"));
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
    if (error instanceof ApiError) showError(error); else throw error;
  }
});
$("logout").addEventListener("click", () => { session.clear(); location.reload(); });
$("search").addEventListener("input", onSearch);
if (session.get()) enter().catch(() => session.clear());
