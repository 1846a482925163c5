// The agenda and its materials (PROTOCOL §6, "Agenda" and "Materials"): the items in order,
// each with the documents hosts uploaded to it. Downloads need the bearer token, so they are
// fetched and handed to the browser as a blob URL; hosts add items, upload and delete.
import { authorized, call, download } from "/static/api.js";
import { $, el, fill } from "/static/dom.js";
import { formatDateTime, translations } from "/static/i18n.js";
import { describe, nameNode } from "/static/meeting-ui.js";

const t = translations({
  "zh-CN": {
    empty: "暂无议程",
    minutes: "{n} 分钟",
    presenter: "汇报人：",
    "no.materials": "暂无材料",
    other: "其他材料（已移出议程）",
    upload: "上传材料",
    uploading: "正在上传 {name}…",
    uploaded: "已上传 {name}",
    delete: "删除",
    "delete.confirm": "删除材料 {name}？",
    expired: "已失效",
    "not.downloadable": "不可下载",
    "add.placeholder": "新议程标题",
    add: "添加议程",
    confidential: "保密会议：会议结束后材料不可下载",
  },
  en: {
    empty: "No agenda yet",
    minutes: "{n} min",
    presenter: "Presenter: ",
    "no.materials": "No materials",
    other: "Other materials (item removed from the agenda)",
    upload: "Upload",
    uploading: "Uploading {name}…",
    uploaded: "Uploaded {name}",
    delete: "Delete",
    "delete.confirm": "Delete {name}?",
    expired: "Expired",
    "not.downloadable": "Not downloadable",
    "add.placeholder": "New agenda item",
    add: "Add item",
    confidential: "Confidential: materials cannot be downloaded after the meeting",
  },
});

function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function setupAgenda(ctx) {
  const { call: meeting, socket, meetingId } = ctx;
  const base = `/api/v1/meetings/${encodeURIComponent(meetingId)}/materials`;
  let materials = [];
  let confidential = false;

  async function fetchMaterial(material) {
    try {
      await download(`${base}/${encodeURIComponent(material.id)}`, material.name);
    } catch (error) {
      ctx.report(describe(error));
    }
  }

  async function upload(itemId, file) {
    ctx.notify(t("uploading", { name: file.name }));
    const form = new FormData();
    form.append("file", file, file.name);
    try {
      await authorized(`${base}?item_id=${encodeURIComponent(itemId)}`, { method: "POST", body: form });
      ctx.notify(t("uploaded", { name: file.name }));
      await refresh();
    } catch (error) {
      ctx.report(describe(error));
    }
  }

  async function remove(material) {
    if (!confirm(t("delete.confirm", { name: material.name }))) return;
    try {
      await authorized(`${base}/${encodeURIComponent(material.id)}`, { method: "DELETE" });
      await refresh();
    } catch (error) {
      ctx.report(describe(error));
    }
  }

  async function addItem(title) {
    const current = meeting.meeting;
    const agenda = [...current.agenda.map(({ id, title: itemTitle, presenter, minutes }) => ({ id, title: itemTitle, presenter, minutes })), { title }];
    try {
      const reply = await socket.call("meeting:agenda", { meeting_id: meetingId, agenda_version: current.agenda_version, agenda });
      meeting.meeting = reply.meeting;
      render();
      return true;
    } catch (error) {
      if (error.details?.meeting) meeting.meeting = error.details.meeting;
      ctx.report(describe(error));
      render();
      return false;
    }
  }

  function materialRow(material) {
    const host = ctx.isHost();
    const open = material.downloadable;
    return el("li", { class: "material", dataset: { material: material.id } },
      open ? el("button", { type: "button", class: "link", onclick: () => fetchMaterial(material) }, material.name)
        : el("span", { class: "unavailable" }, material.name),
      el("small", {}, ` ${size(material.size)}`,
        !open && ` · ${material.expired ? t("expired") : t("not.downloadable")}`,
        " · ", nameNode(material.uploaded_by), ` ${formatDateTime(material.uploaded_at)}`),
      host && ctx.live() && el("button", { type: "button", class: "danger small", onclick: () => remove(material) }, t("delete")));
  }

  function uploader(itemId) {
    const input = el("input", { type: "file", class: "visually-hidden",
      onchange: () => { if (input.files[0]) upload(itemId, input.files[0]); input.value = ""; } });
    return el("label", { class: "button upload" }, t("upload"), input);
  }

  function render() {
    const current = meeting.meeting;
    if (!current) return;
    const host = ctx.isHost() && ctx.live();
    const items = current.agenda ?? [];
    const known = new Set(items.map((item) => item.id));
    const rows = items.map((item) => {
      const own = materials.filter((m) => m.item_id === item.id);
      return el("li", { class: "item", dataset: { item: item.id } },
        el("div", { class: "item-head" },
          el("strong", {}, item.title),
          item.minutes && el("small", {}, ` ${t("minutes", { n: item.minutes })}`)),
        item.presenter && el("div", { class: "presenter" }, t("presenter"), nameNode(item.presenter)),
        own.length ? el("ul", { class: "materials" }, own.map(materialRow))
          : el("p", { class: "muted-text" }, t("no.materials")),
        host && uploader(item.id));
    });
    const orphans = materials.filter((m) => !known.has(m.item_id));
    fill($("agenda"), rows.length ? rows : el("li", { class: "empty" }, t("empty")));
    fill($("orphans"), orphans.length > 0 && [el("h3", {}, t("other")), el("ul", { class: "materials" }, orphans.map(materialRow))]);
    $("confidential-note").hidden = !(confidential || current.confidential);
    $("agenda-add").hidden = !host;
  }

  async function refresh() {
    try {
      const listing = await call("GET", base);
      materials = listing.materials;
      confidential = listing.confidential;
    } catch {
      materials = []; // not on the roll (an open meeting's guest): no materials to see
    }
    render();
  }

  $("confidential-note").textContent = t("confidential");
  $("agenda-title").placeholder = t("add.placeholder");
  $("agenda-title").setAttribute("aria-label", t("add.placeholder"));
  $("agenda-add-button").textContent = t("add");
  $("agenda-add").addEventListener("submit", async (event) => {
    event.preventDefault();
    const title = $("agenda-title").value.trim();
    if (title && await addItem(title)) $("agenda-title").value = "";
  });
  meeting.addEventListener("updated", render);
  socket.on("meeting:materials", (payload) => { if (payload?.meeting_id === meetingId) refresh(); });

  return { render, sync: refresh };
}
