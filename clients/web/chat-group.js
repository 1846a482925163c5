// Starting a group chat: find colleagues in the directory (name or pinyin initials), tick
// them, optionally name the group. env = { ctx, created(conversation) }.
import { el, fill } from "/static/dom.js";
import { t } from "/static/chat-text.js";

export function openGroupDialog(host, env) {
  const { ctx } = env;
  const picked = new Map(); // user id -> name
  const title = el("input", { class: "group-title", maxlength: 100, placeholder: t("group_title"), "aria-label": t("group_title") });
  const find = el("input", { type: "search", class: "group-find", placeholder: t("pick"), "aria-label": t("pick") });
  const found = el("ul", { class: "group-found" });
  const chosen = el("p", { class: "group-picked hint" }, t("picked", { n: 0 }));
  const error = el("p", { class: "error", role: "alert" });
  const create = el("button", { type: "button", class: "primary create", onclick: () => submit() }, t("create"));
  const close = () => { overlay.remove(); document.removeEventListener("keydown", onKey); };
  const dialog = el("div", { class: "group-dialog", role: "dialog", "aria-modal": "true", "aria-label": t("new_group") },
    el("header", {}, el("h2", {}, t("new_group")), el("button", { type: "button", class: "close", onclick: close }, t("close"))),
    title, find, found, chosen, error, el("footer", {}, create));
  const overlay = el("div", { class: "overlay", onclick: (event) => { if (event.target === overlay) close(); } }, dialog);
  const onKey = (event) => { if (event.key === "Escape") close(); };
  document.addEventListener("keydown", onKey);
  host.append(overlay);
  find.focus();

  let timer = null;
  let asked = 0;
  find.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => search(find.value.trim()), 250);
  });

  async function search(q) {
    const mine = ++asked;
    const query = q ? `q=${encodeURIComponent(q)}` : ctx.me.dept_id ? `dept_id=${encodeURIComponent(ctx.me.dept_id)}` : null;
    if (!query) return fill(found);
    try {
      const { users } = await ctx.call("GET", `/api/v1/directory/users?${query}&limit=50`);
      if (mine !== asked) return;
      fill(found, users.filter((user) => user.id !== ctx.me.id).map(row));
    } catch (failure) {
      error.textContent = failure.message;
    }
  }

  function row(user) {
    const box = el("input", { type: "checkbox", checked: picked.has(user.id), dataset: { user: user.id } });
    box.addEventListener("change", () => {
      if (box.checked) picked.set(user.id, user.name);
      else picked.delete(user.id);
      chosen.textContent = `${t("picked", { n: picked.size })}${picked.size ? `：${[...picked.values()].join("、")}` : ""}`;
    });
    return el("li", {}, el("label", {}, box, ` ${user.name} · ${user.title || user.username}`));
  }

  async function submit() {
    if (!picked.size) {
      error.textContent = t("pick_someone");
      return;
    }
    create.disabled = true;
    const payload = { type: "group", members: [...picked.keys()] };
    if (title.value.trim()) payload.title = title.value.trim();
    try {
      const { conversation } = await ctx.live.call("conv:create", payload);
      close();
      env.created(conversation);
    } catch (failure) {
      error.textContent = failure.message;
      create.disabled = false;
    }
  }

  search("");
}
