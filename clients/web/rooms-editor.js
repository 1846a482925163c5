// A room manager's form for one room (PATCH /api/v1/rooms/{id}): what it holds and offers,
// when it opens, its booking rules, and whether it is open for booking. Each save names the
// version it was made on; someone else's change in between is said and the form reloaded.
import { ApiError } from "/static/api.js";
import { el, fill } from "/static/dom.js";
import { EQUIPMENT, messageOf, t } from "/static/rooms-text.js";

const field = (label, control) => el("label", { class: "field" }, el("span", {}, label), control);

export function roomEditor(ctx, { room, saved, cancel }) {
  let current = room;
  const input = (name, attrs = {}) => el("input", { name, autocomplete: "off", ...attrs });
  const name = input("name", { maxlength: 100, required: true });
  const floor = input("floor", { maxlength: 20, required: true });
  const capacity = input("capacity", { type: "number", min: 1, max: 5000, required: true, inputmode: "numeric" });
  const area = input("area_m2", { type: "number", min: 0, step: "any", inputmode: "decimal" });
  const equipment = EQUIPMENT.map((word) => el("label", { class: "check" }, el("input", { type: "checkbox", name: "equipment", value: word }), el("span", {}, t(word))));
  const approval = el("label", { class: "check" }, el("input", { type: "checkbox", name: "requires_approval" }), el("span", {}, t("e_approval")));
  const openStart = input("open_start", { type: "time", step: 1800, required: true });
  const openEnd = input("open_end", { type: "time", step: 1800, required: true });
  const windowDays = input("window_days", { type: "number", min: 1, max: 365, inputmode: "numeric" });
  const maxHours = input("max_hours", { type: "number", min: 0.5, max: 24, step: 0.5, inputmode: "decimal" });
  const release = input("release_minutes", { type: "number", min: 1, max: 120, inputmode: "numeric" });
  const status = el("select", { name: "status" }, ["active", "maintenance"].map((s) => el("option", { value: s }, t(`st_${s}`))));
  const reason = input("status_reason", { maxlength: 200 });
  const reasonField = field(t("e_reason"), reason);
  const version = el("p", { class: "hint version" });
  const error = el("p", { class: "error", role: "alert" });
  const submit = el("button", { type: "submit", class: "primary" }, t("save"));
  const form = el("form", { class: "room-form", novalidate: true, dataset: { room: room.id } },
    field(t("e_name"), name),
    el("div", { class: "when" }, field(t("e_floor"), floor), field(t("e_capacity"), capacity), field(t("e_area"), area)),
    el("fieldset", { class: "equipment-choice" }, el("legend", {}, t("e_equipment")), equipment),
    approval,
    el("div", { class: "when" }, field(t("e_open_start"), openStart), field(t("e_open_end"), openEnd)),
    el("div", { class: "when" }, field(t("e_window"), windowDays), field(t("e_max_hours"), maxHours)),
    field(t("e_release"), release),
    el("div", { class: "when" }, field(t("e_status"), status), reasonField),
    version, error,
    el("div", { class: "actions" }, submit, el("button", { type: "button", class: "secondary", onclick: cancel }, t("cancel"))));

  function load(r) {
    current = r;
    name.value = r.name;
    floor.value = r.floor;
    capacity.value = String(r.capacity);
    area.value = r.area_m2 ?? "";
    for (const box of form.querySelectorAll("input[name=equipment]")) box.checked = r.equipment.includes(box.value);
    approval.querySelector("input").checked = r.requires_approval;
    openStart.value = r.open_hours.start;
    openEnd.value = r.open_hours.end;
    windowDays.value = String(r.window_days);
    maxHours.value = String(r.max_hours);
    release.value = r.release_minutes ?? "";
    status.value = r.status === "maintenance" ? "maintenance" : "active";
    reason.value = r.status_reason ?? "";
    reasonField.hidden = status.value !== "maintenance";
    fill(version, t("version", { v: r.version }));
  }
  status.addEventListener("change", () => { reasonField.hidden = status.value !== "maintenance"; });

  // Only what differs from the room as loaded.
  function changes() {
    const wanted = {
      name: name.value.trim(), floor: floor.value.trim(), capacity: Number(capacity.value),
      area_m2: area.value === "" ? null : Number(area.value),
      equipment: [...form.querySelectorAll("input[name=equipment]:checked")].map((b) => b.value).sort(),
      requires_approval: approval.querySelector("input").checked,
      open_hours: { start: openStart.value, end: openEnd.value },
      window_days: Number(windowDays.value), max_hours: Number(maxHours.value),
      release_minutes: release.value === "" ? null : Number(release.value), status: status.value,
    };
    const body = {};
    for (const [key, value] of Object.entries(wanted)) {
      if (JSON.stringify(value) !== JSON.stringify(key === "equipment" ? [...current.equipment].sort() : current[key])) body[key] = value;
    }
    if (status.value === "maintenance" && (body.status || reason.value.trim() !== (current.status_reason ?? ""))) {
      body.status_reason = reason.value.trim();
    }
    return body;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const body = changes();
    if (!Object.keys(body).length) { error.textContent = t("nothing_changed"); return; }
    if (body.status_reason === "") { error.textContent = t("reason_needed"); reason.focus(); return; }
    submit.disabled = true;
    try {
      const reply = await ctx.call("PATCH", `/api/v1/rooms/${encodeURIComponent(current.id)}`, { ...body, version: current.version });
      saved(reply.room);
    } catch (failure) {
      if (failure instanceof ApiError && failure.code === "conflict" && failure.details?.room) {
        load(failure.details.room);
        error.textContent = t("room_conflict", { v: failure.details.room.version });
      } else {
        error.textContent = t("failed", { message: messageOf(failure) });
      }
    } finally {
      submit.disabled = false;
    }
  });

  load(room);
  return form;
}
