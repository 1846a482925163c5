// Searching the messages of every conversation (msg:search): each result shows where and who,
// and the snippet with the hits in <mark> elements built from the server's offsets (the server
// sends no markup). env = { ctx, convs: Map, open(conv_id, message), toggled(shown) }.
import { el, fill } from "/static/dom.js";
import { convTitle, marked, nameNode, t, when } from "/static/chat-text.js";

export function createSearch(env) {
  const { ctx } = env;
  const input = el("input", { type: "search", class: "search", maxlength: 200, placeholder: t("search"), "aria-label": t("search") });
  const form = el("form", { class: "search-form", role: "search" }, input);
  const results = el("div", { class: "results", hidden: true });
  let asked = 0;

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  input.addEventListener("input", () => { if (!input.value.trim()) close(); });
  input.addEventListener("keydown", (event) => { if (event.key === "Escape") close(); });

  function close() {
    asked += 1;
    results.hidden = true;
    results.replaceChildren();
    env.toggled(false);
  }

  function show(...children) {
    fill(results, el("div", { class: "results-head" }, el("strong", {}, t("search")),
      el("button", { type: "button", class: "close", onclick: () => { input.value = ""; close(); } }, t("close"))), ...children);
    results.hidden = false;
    env.toggled(true);
  }

  async function run() {
    const q = input.value.trim();
    if (!q) return close();
    const mine = ++asked;
    try {
      const { results: found } = await ctx.live.call("msg:search", { q, limit: 30 });
      if (mine !== asked) return;
      show(found.length ? el("ul", {}, found.map(result)) : el("p", { class: "hint" }, t("search_none")));
    } catch (error) {
      if (mine === asked) show(el("p", { class: "error" }, error.message));
    }
  }

  function result({ message, snippet, highlights }) {
    const conv = env.convs.get(message.conv_id);
    return el("li", {}, el("button", { type: "button", class: "result", dataset: { result: message.id }, onclick: () => env.open(message.conv_id, message) },
      el("span", { class: "top" }, conv ? convTitle(ctx, conv) : el("span", { class: "title" }, message.conv_id), el("time", {}, when(message.ts))),
      el("span", { class: "who" }, nameNode(ctx, message.sender_id)),
      el("span", { class: "snippet" }, marked(snippet, highlights ?? []))));
  }

  return { form, results };
}
