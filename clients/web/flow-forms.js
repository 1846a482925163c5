// The forms that start each flow (发起, PROTOCOL §4 Flows). `flowsFor(me)` lists the flows
// this user may start; `flowForm(flow, ctx, { onStarted })` builds one form that sends
// `flow:start` and shows a refusal naming `form.<field>` next to that field, keeping all that
// was typed. `peoplePicker(ctx, options)` picks colleagues from the directory search.
import { upload } from "/static/api.js";
import { el, fill } from "/static/dom.js";
import { translations } from "/static/i18n.js";

const t = translations({
  "zh-CN": {
    leave: "请休假", trip: "出差", supplies: "办公用品", circulation: "公文流转", incoming_doc: "收文",
    leave_type: "假别", start: "开始日期", end: "结束日期", half_day: "半天（仅限一天的假）", reason: "事由",
    phone: "联系电话", basis: "任务依据", destination: "目的地", transport: "交通方式", out_of_province: "出省",
    id_number: "身份证号（订票用）", items: "物品", item_name: "物品名称", quantity: "数量", add_item: "添加物品", item_n: "第 {n} 项：",
    remove: "移除", title: "标题", content: "正文", to: "传阅人", rule: "签阅规则", rule_k: "需签人数",
    issuer: "来文单位", doc_number: "文号", urgency: "缓急", received_on: "收文日期", summary: "摘要",
    departments: "分送部门", attachments: "附件", uploading: "上传中…", search_people: "搜索姓名 / 拼音首字母",
    no_people: "无结果", submit: "提交", submitting: "提交中…", started: "已提交：{title}", optional: "（选填）",
    "leave_type.annual": "年休假", "leave_type.personal": "事假", "leave_type.sick": "病假",
    "leave_type.marriage": "婚假", "leave_type.maternity": "产假",
    "transport.train": "火车", "transport.plane": "飞机", "transport.car": "公务用车", "transport.bus": "客车", "transport.other": "其他",
    "urgency.normal": "平件", "urgency.urgent": "急件", "urgency.very_urgent": "特急",
    "rule.all": "会签（全部签阅）", "rule.any": "或签（任一人签阅）", "rule.k": "按人数（k 人签阅）",
  },
  en: {
    leave: "Leave", trip: "Business trip", supplies: "Office supplies", circulation: "Circulation", incoming_doc: "Incoming document",
    leave_type: "Kind of leave", start: "Start date", end: "End date", half_day: "Half a day (one-day leave only)", reason: "Reason",
    phone: "Phone", basis: "Task basis", destination: "Destination", transport: "Transport", out_of_province: "Out of province",
    id_number: "ID-card number (for tickets)", items: "Items", item_name: "Item", quantity: "Quantity", add_item: "Add item", item_n: "Item {n}: ",
    remove: "Remove", title: "Title", content: "Text", to: "Circulate to", rule: "Sign-off rule", rule_k: "Signatures needed",
    issuer: "Issued by", doc_number: "Document number", urgency: "Urgency", received_on: "Received on", summary: "Summary",
    departments: "Departments", attachments: "Attachments", uploading: "Uploading…", search_people: "Search name / pinyin initials",
    no_people: "No one found", submit: "Submit", submitting: "Submitting…", started: "Submitted: {title}", optional: " (optional)",
    "leave_type.annual": "Annual", "leave_type.personal": "Personal", "leave_type.sick": "Sick",
    "leave_type.marriage": "Marriage", "leave_type.maternity": "Maternity",
    "transport.train": "Train", "transport.plane": "Plane", "transport.car": "Official car", "transport.bus": "Coach", "transport.other": "Other",
    "urgency.normal": "Normal", "urgency.urgent": "Urgent", "urgency.very_urgent": "Very urgent",
    "rule.all": "Everyone signs", "rule.any": "Any one signs", "rule.k": "k of them sign",
  },
});

const FLOWS = {
  leave: [
    { name: "leave_type", kind: "select", options: ["annual", "personal", "sick", "marriage", "maternity"], value: "annual", required: true },
    { name: "start", kind: "date", required: true },
    { name: "end", kind: "date", required: true },
    { name: "half_day", kind: "checkbox" },
    { name: "reason", kind: "textarea", required: true, max: 500 },
    { name: "phone", kind: "tel" },
  ],
  trip: [
    { name: "basis", kind: "textarea", required: true, max: 500 },
    { name: "destination", kind: "text", required: true, max: 100 },
    { name: "start", kind: "date", required: true },
    { name: "end", kind: "date", required: true },
    { name: "transport", kind: "select", options: ["train", "plane", "car", "bus", "other"], value: "train", required: true },
    { name: "out_of_province", kind: "checkbox" },
    { name: "id_number", kind: "text", max: 18 },
    { name: "phone", kind: "tel" },
  ],
  supplies: [{ name: "items", kind: "items", required: true }],
  circulation: [
    { name: "title", kind: "text", required: true, max: 200 },
    { name: "content", kind: "textarea", max: 5000 },
    { name: "to", kind: "people", required: true },
    { name: "rule", kind: "rule", required: true },
  ],
  incoming_doc: [
    { name: "title", kind: "text", required: true, max: 200 },
    { name: "issuer", kind: "text", required: true, max: 100 },
    { name: "doc_number", kind: "text", required: true, max: 100 },
    { name: "urgency", kind: "select", options: ["normal", "urgent", "very_urgent"], value: "normal", required: true },
    { name: "received_on", kind: "date" },
    { name: "summary", kind: "textarea", max: 5000 },
    { name: "departments", kind: "departments", required: true },
    { name: "attachments", kind: "files" },
  ],
};

export function flowLabel(flow) {
  return t(flow);
}

// The flows this user may start: 收文 only for a clerk.
export function flowsFor(me) {
  return Object.keys(FLOWS).filter((flow) => flow !== "incoming_doc" || (me?.roles ?? []).includes("clerk"));
}

let serial = 0;
const uid = (name) => `ff-${name}-${++serial}`;

export function flowForm(flow, ctx, { onStarted } = {}) {
  const controls = FLOWS[flow].map((spec) => control(spec, ctx));
  const status = el("p", { class: "form-status", role: "status" });
  const error = el("p", { class: "form-error", role: "alert" });
  const submit = el("button", { type: "submit", class: "primary" }, t("submit"));
  const form = el("form", { class: "flow-form", novalidate: true, dataset: { flow } },
    controls.map((c) => c.node), error, el("div", { class: "form-actions" }, submit), status);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (submit.disabled) return;
    for (const c of controls) c.error("");
    fill(error);
    fill(status);
    const payload = {};
    for (const c of controls) {
      const value = c.value();
      if (value !== undefined) payload[c.name] = value;
    }
    submit.disabled = true;
    submit.textContent = t("submitting");
    try {
      const reply = await ctx.live.call("flow:start", { flow, form: payload });
      for (const c of controls) c.reset();
      fill(status, t("started", { title: reply.card?.title ?? "" }));
      onStarted?.(reply);
    } catch (failure) {
      showError(failure);
    } finally {
      submit.disabled = false;
      submit.textContent = t("submit");
    }
  });

  // `form.<field>[.<more>]: problem` goes next to its field; anything else above the button.
  function showError(failure) {
    const named = [];
    for (const f of failure.details?.fields ?? []) named.push([f.field, f.problem]);
    if (!named.length) {
      const match = /^(form\.[\w.]+):\s*(.*)$/s.exec(failure.message ?? "");
      if (match) named.push([match[1], match[2]]);
    }
    let placed = false;
    for (const [path, problem] of named) {
      if (!path?.startsWith("form.")) continue;
      const [name, ...rest] = path.slice(5).split(".");
      const target = controls.find((c) => c.name === name);
      if (!target) continue;
      target.error(problem || failure.message, rest);
      if (!placed) target.focus();
      placed = true;
    }
    if (!placed) fill(error, failure.message);
  }

  return form;
}

function field(spec, id, ...content) {
  const slot = el("span", { class: "field-error", role: "alert", dataset: { errorFor: spec.name } });
  const label = el("label", { for: id }, t(spec.name),
    spec.required ? el("span", { class: "required", "aria-hidden": "true" }, " *") : el("span", { class: "optional" }, t("optional")));
  const node = el("div", { class: `form-field kind-${spec.kind}`, dataset: { field: spec.name } }, label, ...content, slot);
  return { node, slot };
}

function control(spec, ctx) {
  const id = uid(spec.name);
  const make = KINDS[spec.kind] ?? KINDS.text;
  const built = make(spec, id, ctx);
  const { node, slot } = field(spec, id, built.input);
  return {
    name: spec.name,
    node,
    value: built.value,
    reset: built.reset,
    focus: () => (built.focusable ?? node.querySelector("input, select, textarea, button"))?.focus(),
    error(message, rest = []) {
      const where = built.mark?.(message ? rest : null) ?? "";
      slot.textContent = message ? where + message : "";
      node.classList.toggle("invalid", Boolean(message));
    },
  };
}

const text = (value) => (value.trim() ? value.trim() : undefined);

const KINDS = {
  text(spec, id) {
    const input = el("input", { id, name: spec.name, type: spec.kind === "tel" ? "tel" : "text", maxlength: spec.max ?? null,
      autocomplete: spec.kind === "tel" ? "tel" : "off" });
    if (spec.required) input.setAttribute("aria-required", "true");
    return { input, value: () => text(input.value), reset: () => { input.value = ""; } };
  },
  tel(spec, id, ctx) {
    return KINDS.text(spec, id, ctx);
  },
  textarea(spec, id) {
    const input = el("textarea", { id, name: spec.name, rows: 3, maxlength: spec.max ?? null });
    if (spec.required) input.setAttribute("aria-required", "true");
    return { input, value: () => text(input.value), reset: () => { input.value = ""; } };
  },
  date(spec, id) {
    const input = el("input", { id, name: spec.name, type: "date" });
    if (spec.required) input.setAttribute("aria-required", "true");
    return { input, value: () => input.value || undefined, reset: () => { input.value = ""; } };
  },
  select(spec, id) {
    const input = el("select", { id, name: spec.name },
      spec.options.map((option) => el("option", { value: option, selected: option === spec.value }, t(`${spec.name}.${option}`))));
    return { input, value: () => input.value || undefined, reset: () => { input.value = spec.value ?? ""; } };
  },
  checkbox(spec, id) {
    const input = el("input", { id, name: spec.name, type: "checkbox" });
    return { input, value: () => input.checked, reset: () => { input.checked = false; } };
  },

  // 办公用品: rows of name and quantity.
  items(spec, id) {
    const rows = el("ol", { class: "item-rows" });
    const addRow = (focus) => {
      const name = el("input", { name: "item_name", maxlength: 50, placeholder: t("item_name"), "aria-label": t("item_name") });
      const quantity = el("input", { name: "quantity", type: "number", min: 1, max: 1000, step: 1, value: "1", inputmode: "numeric",
        "aria-label": t("quantity") });
      const row = el("li", { class: "item-row" }, name, quantity,
        el("button", { type: "button", class: "remove", "aria-label": t("remove"), title: t("remove"),
          onclick: () => { if (rows.children.length > 1) row.remove(); } }, "×"));
      rows.append(row);
      if (focus) name.focus();
      return name;
    };
    const first = addRow(false);
    first.id = id;
    const add = el("button", { type: "button", class: "add-item", onclick: () => addRow(true) }, `＋ ${t("add_item")}`);
    return {
      input: el("div", { class: "items" }, rows, add),
      focusable: first,
      value: () => [...rows.children].map((row) => {
        const [name, quantity] = row.querySelectorAll("input");
        const n = Number(quantity.value);
        return { name: name.value.trim(), quantity: quantity.value !== "" && Number.isInteger(n) ? n : quantity.value };
      }),
      reset: () => { rows.replaceChildren(); addRow(false).id = id; },
      mark: (rest) => {
        rows.querySelectorAll("[aria-invalid]").forEach((node) => node.removeAttribute("aria-invalid"));
        if (!rest?.length) return "";
        const row = rows.children[Number(rest[0])];
        const target = row?.querySelector(rest[1] === "quantity" ? "input[name=quantity]" : "input[name=item_name]");
        target?.setAttribute("aria-invalid", "true");
        return row ? t("item_n", { n: Number(rest[0]) + 1 }) : "";
      },
    };
  },

  people(spec, id, ctx) {
    const picker = peoplePicker(ctx, { id, multiple: true });
    return { input: picker.node, focusable: picker.search, value: () => picker.value(), reset: picker.reset };
  },

  // 会签 / 或签 / k of n.
  rule(spec, id) {
    const select = el("select", { id, name: "rule" }, ["all", "any", "k"].map((r) => el("option", { value: r }, t(`rule.${r}`))));
    const k = el("input", { type: "number", name: "rule_k", min: 1, step: 1, value: "2", inputmode: "numeric", "aria-label": t("rule_k"), hidden: true });
    select.addEventListener("change", () => { k.hidden = select.value !== "k"; });
    return {
      input: el("div", { class: "rule" }, select, k),
      value: () => {
        if (select.value !== "k") return select.value;
        const n = Number(k.value);
        return Number.isInteger(n) && k.value !== "" ? n : k.value;
      },
      reset: () => { select.value = "all"; k.hidden = true; k.value = "2"; },
    };
  },

  // 收文: the departments it goes to.
  departments(spec, id, ctx) {
    const box = el("div", { class: "departments", id, tabindex: -1 });
    ctx.call("GET", "/api/v1/directory/departments").then(({ departments }) => {
      const walk = (list, depth) => {
        for (const dept of list) {
          box.append(el("label", { class: "check", style: { paddingLeft: `${depth}em` } },
            el("input", { type: "checkbox", name: "departments", value: dept.id }), ` ${dept.name}`));
          walk(dept.children ?? [], depth + 1);
        }
      };
      walk(departments, 0);
    }).catch(() => {});
    return {
      input: box,
      value: () => [...box.querySelectorAll("input:checked")].map((input) => input.value),
      reset: () => box.querySelectorAll("input").forEach((input) => { input.checked = false; }),
    };
  },

  // Files uploaded for a card as they are chosen; the form lists their ids.
  files(spec, id) {
    const chosen = [];
    const list = el("ul", { class: "files" });
    const note = el("span", { class: "hint" });
    const input = el("input", { id, type: "file", multiple: true });
    const draw = () => fill(list, chosen.map((file) => el("li", {}, file.name,
      el("button", { type: "button", class: "remove", "aria-label": t("remove"), title: t("remove"),
        onclick: () => { chosen.splice(chosen.indexOf(file), 1); draw(); } }, "×"))));
    input.addEventListener("change", async () => {
      const files = [...input.files];
      input.value = "";
      for (const file of files) {
        note.textContent = t("uploading");
        try {
          const { file: stored } = await upload(`/api/v1/files?for=card&name=${encodeURIComponent(file.name)}`, file);
          chosen.push(stored);
          note.textContent = "";
        } catch (error) {
          note.textContent = error.message;
        }
        draw();
      }
    });
    return {
      input: el("div", { class: "file-picker" }, input, note, list),
      value: () => (chosen.length ? chosen.map((file) => file.id) : undefined),
      reset: () => { chosen.length = 0; draw(); },
    };
  },
};

// Colleagues from the directory search; `value()` is their ids (or one id, or undefined).
export function peoplePicker(ctx, { id, multiple = true } = {}) {
  const chosen = new Map();
  const search = el("input", { id, type: "search", class: "people-search", placeholder: t("search_people"),
    "aria-label": t("search_people"), autocomplete: "off" });
  const results = el("ul", { class: "people-results" });
  const picked = el("ul", { class: "people-chosen" });
  let timer;
  let asked = 0;

  const drawChosen = () => fill(picked, [...chosen.values()].map((user) => el("li", { dataset: { user: user.id } },
    user.name, el("button", { type: "button", class: "remove", "aria-label": `${t("remove")} ${user.name}`, title: t("remove"),
      onclick: () => { chosen.delete(user.id); drawChosen(); } }, "×"))));

  const pick = (user) => {
    if (!multiple) chosen.clear();
    chosen.set(user.id, user);
    drawChosen();
    fill(results);
    search.value = "";
    search.focus();
  };

  search.addEventListener("input", () => {
    clearTimeout(timer);
    const q = search.value.trim();
    if (!q) { fill(results); return; }
    timer = setTimeout(async () => {
      const mine = ++asked;
      try {
        const { users } = await ctx.call("GET", `/api/v1/directory/users?q=${encodeURIComponent(q)}&limit=20`);
        if (mine !== asked) return;
        const others = users.filter((user) => user.id !== ctx.me?.id);
        fill(results, others.length ? others.map((user) => el("li", {}, el("button", {
          type: "button", dataset: { user: user.id }, onclick: () => pick(user),
        }, `${user.name} · ${user.title || user.username}`))) : el("li", { class: "hint" }, t("no_people")));
      } catch {
        fill(results);
      }
    }, 250);
  });
  search.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    results.querySelector("button")?.click();
  });

  return {
    node: el("div", { class: "people-picker" }, picked, search, results),
    search,
    value: () => {
      const ids = [...chosen.keys()];
      if (multiple) return ids.length ? ids : undefined;
      return ids[0];
    },
    chosen: () => [...chosen.values()],
    reset: () => { chosen.clear(); drawChosen(); fill(results); search.value = ""; },
  };
}
