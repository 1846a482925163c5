// The composer: a text area (Enter sends, Shift+Enter breaks the line, nothing is sent while an
// input method is composing), `@` offering the group's members, a file button, and a draft
// kept per conversation. env = { ctx, conv(), send(text, mentions), sendFile(file), typing() }.
import { el, fill } from "/static/dom.js";
import { isManager, nameNode, t } from "/static/chat-text.js";

export function createComposer(env) {
  const { ctx } = env;
  const input = el("textarea", { rows: 1, maxlength: 5000, placeholder: t("write"), title: t("placeholder"), "aria-label": t("placeholder") });
  const files = el("input", { type: "file", multiple: true, hidden: true, tabindex: -1 });
  const attach = el("button", { type: "button", class: "attach", title: t("attach"), "aria-label": t("attach"), onclick: () => files.click() }, t("file"));
  const send = el("button", { type: "button", class: "send primary", onclick: () => submit() }, t("send"));
  const picker = el("ul", { class: "mention-picker", role: "listbox", hidden: true });
  const node = el("div", { class: "composer" }, picker, attach, files, input, send);
  const drafts = new Map();
  const chosen = new Map(); // "@王建国" -> "user:chief" | "all"
  let options = [];
  let active = 0;
  let timer = null;
  let convId = null;

  files.addEventListener("change", () => {
    for (const file of files.files) env.sendFile(file);
    files.value = "";
  });

  input.addEventListener("input", () => {
    env.typing();
    autosize();
    const query = mentionQuery();
    clearTimeout(timer);
    if (query === null) return close();
    timer = setTimeout(() => suggest(query), query ? 150 : 0);
  });

  input.addEventListener("keydown", (event) => {
    if (!picker.hidden && options.length) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        active = (active + (event.key === "ArrowDown" ? 1 : options.length - 1)) % options.length;
        paint();
        return;
      }
      if (event.key === "Enter" || event.key === "Tab") {
        event.preventDefault();
        choose(options[active]);
        return;
      }
      if (event.key === "Escape") return close();
    }
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      submit();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 200));

  function autosize() {
    input.style.height = "";
    if (input.value) input.style.height = `${Math.min(input.scrollHeight + 2, 160)}px`;
  }

  // The text typed after the last `@` before the caret, or null.
  function mentionQuery() {
    const conv = env.conv();
    if (!conv || (conv.type !== "group" && conv.type !== "department")) return null;
    const match = /@([^\s@]{0,20})$/.exec(input.value.slice(0, input.selectionStart));
    return match ? match[1] : null;
  }

  async function suggest(query) {
    const conv = env.conv();
    const members = new Set(conv.members);
    members.delete(ctx.me.id);
    let ids;
    try {
      if (!query) ids = [...members];
      else {
        const { users } = await ctx.call("GET", `/api/v1/directory/users?q=${encodeURIComponent(query)}&limit=100`);
        ids = users.map((user) => user.id).filter((id) => members.has(id));
      }
    } catch {
      return close();
    }
    if (mentionQuery() !== query || env.conv()?.id !== conv.id) return; // typed on meanwhile
    options = ids.slice(0, 30).map((id) => ({ id: `user:${id}`, userId: id }));
    const everyone = t("all");
    if (isManager(conv, ctx.me.id) && (!query || everyone.startsWith(query) || "all".startsWith(query.toLowerCase()))) {
      options.unshift({ id: "all", label: everyone });
    }
    active = 0;
    paint();
  }

  function paint() {
    fill(picker, options.map((option, index) => el("li", { role: "option", "aria-selected": String(index === active) },
      el("button", { type: "button", dataset: { mention: option.id }, onmousedown: (event) => event.preventDefault(), onclick: () => choose(option) },
        option.label ?? nameNode(ctx, option.userId)))));
    picker.hidden = !options.length;
  }

  function close() {
    options = [];
    picker.hidden = true;
  }

  async function choose(option) {
    const name = option.label ?? await ctx.nameOf(option.userId);
    const caret = input.selectionStart;
    const at = input.value.slice(0, caret).lastIndexOf("@");
    if (at < 0) return close();
    const token = `@${name}`;
    input.value = `${input.value.slice(0, at)}${token} ${input.value.slice(caret)}`;
    const position = at + token.length + 1;
    input.focus();
    input.setSelectionRange(position, position);
    chosen.set(token, option.id);
    close();
  }

  function submit() {
    const text = input.value;
    if (!text.trim()) return;
    const mentions = [...new Set([...chosen].filter(([token]) => text.includes(token)).map(([, id]) => id))];
    input.value = "";
    chosen.clear();
    close();
    autosize();
    env.send(text, mentions);
    input.focus();
  }

  return {
    node,
    // Switches to another conversation, keeping what was typed for this one.
    reset(conv) {
      if (convId) drafts.set(convId, input.value);
      convId = conv?.id ?? null;
      input.value = drafts.get(convId) ?? "";
      chosen.clear();
      close();
      autosize();
    },
    focus: () => input.focus(),
  };
}
