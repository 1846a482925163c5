// 工作台: the boxes 待办 / 已办 / 我发起的 (`flow:list`), each item a live card; 发起 (start a
// flow from its form); 代理 (an acting substitute, `flow:delegate`). The counts follow every
// `card:update`, every new card delivered, and every act; the to-do count is the tab's badge.
//
// open({ box }) shows a box; open({ start: flow }) opens the form of a flow; open({ card_id })
// scrolls to the card when it is in the box shown.
import { el, fill } from "/static/dom.js";
import { formatDateTime, translations } from "/static/i18n.js";
import { renderCard } from "/static/cards.js";
import { flowForm, flowLabel, flowsFor, peoplePicker } from "/static/flow-forms.js";

const t = translations({
  "zh-CN": {
    todo: "待办", done: "已办", mine: "我发起的", start: "发起", delegate: "代理", close: "收起",
    empty_todo: "暂无待办", empty_done: "暂无已办事项", empty_mine: "还没有发起过申请", loading: "加载中…",
    choose_flow: "选择要发起的事项", delegate_title: "代理设置", delegate_help: "设置后，流转到您的审批将交由代理人处理，直到截止日期（不填则一直有效）。",
    substitute: "代理人", until: "截止日期", set_delegate: "设置代理", clear_delegate: "取消代理",
    delegate_set: "已设置：由 {name} 代理{until}", delegate_until: "，至 {date}", delegate_cleared: "已取消代理",
    pick_substitute: "请先选择代理人", boxes: "事项分类", applied: "提交于 {time}", started: "已提交：{title}",
  },
  en: {
    todo: "To do", done: "Done", mine: "Mine", start: "New", delegate: "Delegate", close: "Close",
    empty_todo: "Nothing to do", empty_done: "Nothing handled yet", empty_mine: "You have not started anything", loading: "Loading…",
    choose_flow: "What do you want to start?", delegate_title: "Acting substitute", delegate_help: "While set, steps that come to you go to your substitute until the date (or until you clear it).",
    substitute: "Substitute", until: "Until", set_delegate: "Set substitute", clear_delegate: "Clear substitute",
    delegate_set: "Set: {name} acts for you{until}", delegate_until: " until {date}", delegate_cleared: "Substitute cleared",
    pick_substitute: "Choose a substitute first", boxes: "Boxes", applied: "Submitted {time}", started: "Submitted: {title}",
  },
});

const BOXES = ["todo", "done", "mine"];

export function mount(root, ctx) {
  root.classList.add("work");
  let current = "todo";
  let asked = 0;
  let timer = null;
  const shown = new Map(); // card_id -> <li>

  const counters = {};
  const boxTabs = el("div", { class: "work-boxes", role: "tablist", "aria-label": t("boxes") }, BOXES.map((box) => {
    counters[box] = el("span", { class: "count" });
    return el("button", { type: "button", role: "tab", dataset: { box }, "aria-selected": String(box === current),
      onclick: () => select(box) }, el("span", { class: "label" }, t(box)), counters[box]);
  }));
  const startButton = el("button", { type: "button", class: "primary work-start-button", "aria-expanded": "false",
    onclick: () => toggle(startPanel, startButton) }, `＋ ${t("start")}`);
  const delegateButton = el("button", { type: "button", class: "work-delegate-button", "aria-expanded": "false",
    onclick: () => toggle(delegatePanel, delegateButton) }, t("delegate"));

  const startPanel = buildStartPanel();
  const delegatePanel = buildDelegatePanel();
  const message = el("p", { class: "work-message", role: "status" });
  const list = el("ul", { class: "work-items", "aria-live": "polite" });
  const empty = el("p", { class: "work-empty hint" }, t("loading"));

  root.append(
    el("div", { class: "work-bar" }, boxTabs, el("div", { class: "work-tools" }, startButton, delegateButton)),
    startPanel, delegatePanel, message, empty, list);

  function toggle(panel, button) {
    const open = panel.hidden;
    startPanel.hidden = true;
    delegatePanel.hidden = true;
    startButton.setAttribute("aria-expanded", "false");
    delegateButton.setAttribute("aria-expanded", "false");
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) panel.querySelector("button, input, select, textarea")?.focus();
  }

  // 发起: one button per flow; each flow's form is built once, so switching keeps what was typed.
  function buildStartPanel() {
    const forms = {};
    const holder = el("div", { class: "flow-form-holder" });
    const chooser = el("div", { class: "flow-chooser", role: "tablist", "aria-label": t("choose_flow") });
    const panel = el("section", { class: "work-panel work-start", hidden: true, "aria-label": t("start") },
      el("h3", {}, t("choose_flow")), chooser, holder);
    const choose = (flow) => {
      for (const button of chooser.children) button.setAttribute("aria-selected", String(button.dataset.flow === flow));
      forms[flow] ??= flowForm(flow, ctx, { onStarted: started });
      fill(holder, forms[flow]);
    };
    for (const flow of flowsFor(ctx.me)) {
      chooser.append(el("button", { type: "button", role: "tab", dataset: { flow }, "aria-selected": "false",
        onclick: () => choose(flow) }, flowLabel(flow)));
    }
    panel.choose = choose;
    return panel;
  }

  function started(reply) {
    startPanel.hidden = true;
    startButton.setAttribute("aria-expanded", "false");
    fill(message, t("started", { title: reply.card?.title ?? "" }));
    select("mine");
  }

  function buildDelegatePanel() {
    const picker = peoplePicker(ctx, { id: "work-delegate-to", multiple: false });
    const until = el("input", { type: "date", name: "until", id: "work-delegate-until" });
    const result = el("p", { class: "delegate-result", role: "status" });
    const send = async (to) => {
      if (to === undefined) { fill(result, t("pick_substitute")); return; }
      const payload = { to };
      if (to && until.value) payload.until = `${until.value}T23:59:59+08:00`;
      try {
        const reply = await ctx.live.call("flow:delegate", payload);
        if (!reply.substitute) { fill(result, t("delegate_cleared")); picker.reset(); return; }
        const name = picker.chosen()[0]?.name ?? await ctx.nameOf(reply.substitute);
        const date = reply.until ? t("delegate_until", { date: formatDateTime(reply.until) }) : "";
        fill(result, t("delegate_set", { name, until: date }));
      } catch (error) {
        fill(result, el("span", { class: "error" }, error.message));
      }
    };
    return el("section", { class: "work-panel work-delegate", hidden: true, "aria-label": t("delegate_title") },
      el("h3", {}, t("delegate_title")), el("p", { class: "hint" }, t("delegate_help")),
      el("div", { class: "form-field" }, el("label", { for: "work-delegate-to" }, t("substitute")), picker.node),
      el("div", { class: "form-field" }, el("label", { for: "work-delegate-until" }, t("until")), until),
      el("div", { class: "form-actions" },
        el("button", { type: "button", class: "primary", onclick: () => send(picker.value()) }, t("set_delegate")),
        el("button", { type: "button", onclick: () => send(null) }, t("clear_delegate"))),
      result);
  }

  function select(box) {
    current = box;
    for (const button of boxTabs.children) button.setAttribute("aria-selected", String(button.dataset.box === box));
    root.dataset.box = box;
    load({ keep: false });
  }

  function setCounts(counts) {
    for (const box of BOXES) {
      const n = counts?.[box] ?? 0;
      counters[box].textContent = n ? String(n > 999 ? "999+" : n) : "";
    }
    ctx.badge("work", counts?.todo ?? 0);
  }

  function item(entry) {
    const card = renderCard(entry.card, ctx);
    return el("li", { class: "work-item", dataset: { cardId: entry.card_id, flow: entry.flow ?? "" } },
      entry.created_at ? el("div", { class: "work-meta hint" }, t("applied", { time: formatDateTime(entry.created_at) })) : null,
      card);
  }

  // The box from the server. `keep`: a refresh after a push, which adds what is new and leaves
  // the cards shown in place (one just handled stays in sight, showing what became of it).
  async function load({ keep }) {
    const mine = ++asked;
    const box = current;
    let reply;
    try {
      reply = await ctx.live.call("flow:list", { box, limit: 50 });
    } catch (error) {
      if (mine === asked) fill(empty, el("span", { class: "error" }, error.message));
      return;
    }
    if (mine !== asked || box !== current) return;
    setCounts(reply.counts);
    if (keep) {
      const fresh = reply.items.filter((entry) => !shown.has(entry.card_id)).map((entry) => {
        const node = item(entry);
        shown.set(entry.card_id, node);
        return node;
      });
      list.prepend(...fresh);
    } else {
      const nodes = reply.items.map((entry) => shown.get(entry.card_id) ?? item(entry));
      shown.clear();
      reply.items.forEach((entry, i) => shown.set(entry.card_id, nodes[i]));
      list.replaceChildren(...nodes);
    }
    fill(empty, shown.size ? "" : t(`empty_${box}`));
    empty.hidden = shown.size > 0;
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(() => load({ keep: true }), 200);
  }

  ctx.live.on("card:update", soon);
  ctx.live.on("msg:new", (data) => { if (data?.message?.type === "card") soon(); });
  ctx.live.addEventListener?.("live:restored", () => load({ keep: false }));
  ctx.live.addEventListener?.("live:reset", () => load({ keep: false }));
  root.addEventListener("card:acted", soon);
  // Coming back to the view shows the boxes as they are now.
  new MutationObserver(() => { if (!root.hidden) load({ keep: false }); })
    .observe(root, { attributes: true, attributeFilter: ["hidden"] });

  select("todo");

  return {
    open(detail = {}) {
      if (BOXES.includes(detail.box) && detail.box !== current) select(detail.box);
      if (detail.start && flowsFor(ctx.me).includes(detail.start)) {
        if (startPanel.hidden) toggle(startPanel, startButton);
        startPanel.choose(detail.start);
      }
      if (detail.card_id) shown.get(detail.card_id)?.scrollIntoView({ block: "center" });
    },
  };
}
