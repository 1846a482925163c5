// The day grid of the rooms view: one row per room (name, capacity, equipment), one column per
// 30-minute slot of local time, bookings as blocks over the slots. Free slots are chosen by
// dragging along a row (mouse, pen or a finger: pointer events), or on a touch screen by
// tapping one slot and then another of the same row.
//
// Hooks: `.grid [data-room=<id>]` a room's row, `.slot[data-start=<ISO>]` its slots,
// `[data-booking=<id>]` a booking's block.
import { el, fill } from "/static/dom.js";
import { EQUIPMENT, mayManage, t } from "/static/rooms-text.js";
import { SLOT, addDays, clockOf, hhmm, isoAt, minutesOf, span, today, toMinutes } from "/static/rooms-time.js";

const HOLDING = new Set(["confirmed", "pending"]);

// Which local times the grid shows: 08:00-20:00 at least, wider if a room opens earlier or
// closes later, on whole hours.
export function rangeOf(rows) {
  let start = 8 * 60;
  let end = 20 * 60;
  for (const { room } of rows) {
    if (!room.open_hours) continue;
    start = Math.min(start, toMinutes(room.open_hours.start));
    end = Math.max(end, toMinutes(room.open_hours.end));
  }
  return { start: Math.floor(start / 60) * 60, end: Math.min(24 * 60, Math.ceil(end / 60) * 60) };
}

export function createGrid({ me, onSelect, onBooking, onEditRoom }) {
  const element = el("div", { class: "grid", role: "grid", "aria-label": t("room") });
  let model = null;
  let slotsByRoom = new Map(); // room id -> [{ start, end, state, node }]
  let selection = null; // { roomId, from, to, anchor } slot indices
  let drag = null;
  let deferred = null;

  function slotStates(row, day, range, now) {
    const { room, busy } = row;
    const open = room.open_hours ? [toMinutes(room.open_hours.start), toMinutes(room.open_hours.end)] : [0, 24 * 60];
    const beyond = room.window_days && day > addDays(today(), room.window_days);
    const taken = busy.filter((b) => HOLDING.has(b.status)).map((b) => [Date.parse(b.start), Date.parse(b.end)]);
    const slots = [];
    for (let minute = range.start; minute < range.end; minute += SLOT) {
      const start = isoAt(day, minute);
      const end = isoAt(day, minute + SLOT);
      const [from, to] = [Date.parse(start), Date.parse(end)];
      let state = "free";
      if (room.status !== "active" || minute < open[0] || minute + SLOT > open[1] || beyond) state = "closed";
      else if (taken.some(([s, e]) => s < to && from < e)) state = "busy";
      else if (from <= now) state = "past";
      slots.push({ start, end, minute, state });
    }
    return slots;
  }

  // `live` (where the room stands now) is shown on today's grid only.
  function roomCell(room, live) {
    const meta = [t("floor", { floor: room.floor }), t("people", { n: room.capacity })];
    if (room.area_m2) meta.push(t("area", { n: room.area_m2 }));
    const state = room.status !== "active"
      ? el("span", { class: "room-state closed", title: room.status_reason ?? "" }, t(room.status === "retired" ? "retired" : "maintenance"))
      : live ? el("span", { class: `room-state ${live.state}` }, t(live.state === "busy" ? "in_use" : "free_now")) : null;
    return el("div", { class: "room-cell", role: "rowheader" },
      el("div", { class: "room-title" }, el("strong", { class: "room-name" }, room.name), state),
      el("div", { class: "room-meta" }, el("span", { class: "capacity", dataset: { capacity: room.capacity } }, meta.join(" · ")),
        room.requires_approval ? el("span", { class: "approval" }, t("approval")) : null),
      room.status !== "active" && room.status_reason ? el("div", { class: "room-reason" }, room.status_reason) : null,
      el("div", { class: "equipment" }, EQUIPMENT.filter((word) => room.equipment?.includes(word)).map((word) =>
        el("span", { class: "eq", dataset: { eq: word }, title: t(word) }, t(`eq_${word}`)))),
      mayManage(me, room) ? el("button", { type: "button", class: "edit-room", onclick: () => onEditRoom(room) }, t("edit_room")) : null);
  }

  function block(entry, range, booking, names) {
    const startMinute = Math.max(range.start, minutesOf(entry.start));
    let endMinute = minutesOf(entry.end);
    if (endMinute <= startMinute) endMinute = 24 * 60;
    endMinute = Math.min(range.end, endMinute);
    const width = range.end - range.start;
    const mine = booking?.booker === me.id;
    const who = booking ? names.get(booking.booker) ?? "" : "";
    const classes = ["block", entry.status, mine ? "mine" : "", booking?.attendees?.includes(me.id) ? "attending" : ""];
    return el("button", {
      type: "button", class: classes.filter(Boolean).join(" "), dataset: { booking: entry.booking_id, status: entry.status },
      style: { left: `${((startMinute - range.start) / width) * 100}%`, width: `${((endMinute - startMinute) / width) * 100}%` },
      title: [entry.title, span(entry.start, entry.end), who, entry.status === "pending" ? t("pending") : ""].filter(Boolean).join(" · "),
      onclick: () => onBooking(entry.booking_id),
    },
    el("span", { class: "block-title" }, entry.title),
    el("span", { class: "block-who" }, [who, entry.status === "pending" ? `（${t("pending")}）` : ""].join("")),
    el("span", { class: "block-time" }, span(entry.start, entry.end)));
  }

  function head(range) {
    const labels = [];
    for (let minute = range.start; minute < range.end; minute += 60) {
      labels.push(el("span", { class: "hour", style: { gridColumn: `span ${Math.min(60, range.end - minute) / SLOT}` } }, hhmm(minute)));
    }
    return el("div", { class: "grid-row grid-head", role: "row" },
      el("div", { class: "room-cell corner", role: "columnheader" }, t("room")),
      el("div", { class: "track times" }, labels));
  }

  // Draws the whole grid from `next`: { day, rows, range, bookings, names, live }.
  function render(next) {
    if (drag) {
      deferred = next;
      return;
    }
    model = next;
    const now = Date.now();
    const { day, rows, range } = model;
    slotsByRoom = new Map();
    const count = (range.end - range.start) / SLOT;
    const body = rows.map((row) => {
      const slots = slotStates(row, day, range, now);
      const track = el("div", { class: "track" },
        slots.map((slot, index) => {
          slot.node = el("div", {
            class: `slot ${slot.state}${slot.minute % 60 === 0 ? " hour-start" : ""}`, role: "gridcell",
            dataset: { start: slot.start, end: slot.end, index: String(index) },
            title: `${clockOf(slot.start)}–${clockOf(slot.end)}${slot.state === "closed" ? ` ${t("closed")}` : ""}`,
          });
          return slot.node;
        }),
        row.busy.filter((b) => HOLDING.has(b.status)).map((entry) => block(entry, range, model.bookings.get(entry.booking_id), model.names)));
      if (day === today() && now > Date.parse(isoAt(day, range.start)) && now < Date.parse(isoAt(day, range.end))) {
        const minute = minutesOf(new Date(now).toISOString());
        track.append(el("div", { class: "now", style: { left: `${((minute - range.start) / (range.end - range.start)) * 100}%` } }));
      }
      slotsByRoom.set(row.room.id, slots);
      return el("div", { class: `grid-row${row.room.status !== "active" ? " inactive" : ""}`, role: "row", dataset: { room: row.room.id } },
        roomCell(row.room, day === today() ? model.live.get(row.room.id) : null), track);
    });
    element.style.setProperty("--slots", String(count));
    fill(element, head(range), body.length ? body : el("p", { class: "hint empty" }, t("no_rooms")));
    if (selection && !stillFree(selection)) selection = null;
    paintSelection();
  }

  function stillFree({ roomId, from, to }) {
    const slots = slotsByRoom.get(roomId);
    return slots && slots.slice(from, to + 1).every((s) => s?.state === "free");
  }

  // From `anchor` towards `index`, as far as the slots stay free.
  function reach(roomId, anchor, index) {
    const slots = slotsByRoom.get(roomId);
    const step = index >= anchor ? 1 : -1;
    let last = anchor;
    for (let i = anchor + step; step > 0 ? i <= index : i >= index; i += step) {
      if (slots[i]?.state !== "free") break;
      last = i;
    }
    return [Math.min(anchor, last), Math.max(anchor, last)];
  }

  function paintSelection() {
    for (const node of element.querySelectorAll(".slot.selected")) node.classList.remove("selected");
    if (!selection) return;
    const slots = slotsByRoom.get(selection.roomId) ?? [];
    for (let i = selection.from; i <= selection.to; i += 1) slots[i]?.node.classList.add("selected");
  }

  function indexAt(track, x) {
    const box = track.getBoundingClientRect();
    const count = track.querySelectorAll(".slot").length;
    return Math.max(0, Math.min(count - 1, Math.floor(((x - box.left) / box.width) * count)));
  }

  // What was chosen, as the booking form wants it.
  function chosen() {
    if (!selection) return null;
    const slots = slotsByRoom.get(selection.roomId);
    const row = model.rows.find((r) => r.room.id === selection.roomId);
    return { room: row.room, day: model.day, start: slots[selection.from].minute, end: slots[selection.to].minute + SLOT };
  }

  element.addEventListener("pointerdown", (event) => {
    const slot = event.target.closest(".slot");
    if (!slot?.classList.contains("free") || (event.pointerType === "mouse" && event.button !== 0)) return;
    const track = slot.parentElement;
    const roomId = track.closest("[data-room]").dataset.room;
    const index = Number(slot.dataset.index);
    drag = { id: event.pointerId, type: event.pointerType, track, roomId, anchor: index, moved: false, before: selection };
    if (event.pointerType === "touch" && selection?.roomId === roomId && index !== selection.anchor) {
      drag.anchor = selection.anchor; // a second tap in the row extends the first
    }
    const [from, to] = reach(roomId, drag.anchor, index);
    selection = { roomId, from, to, anchor: drag.anchor };
    if (event.pointerType !== "touch") {
      event.preventDefault();
      track.setPointerCapture?.(event.pointerId);
    }
    paintSelection();
  });

  element.addEventListener("pointermove", (event) => {
    if (!drag || event.pointerId !== drag.id) return;
    const index = indexAt(drag.track, event.clientX);
    const [from, to] = reach(drag.roomId, drag.anchor, index);
    if (from === selection.from && to === selection.to) return;
    drag.moved = true;
    selection = { ...selection, from, to };
    paintSelection();
  });

  // A grid drawn while a drag went on waits for its end (the drag holds the old slots).
  function settle() {
    drag = null;
    if (deferred) render(deferred);
    deferred = null;
  }

  element.addEventListener("pointerup", (event) => {
    if (!drag || event.pointerId !== drag.id) return;
    const { type, moved } = drag;
    settle();
    if (selection) onSelect(chosen(), { immediate: type !== "touch" || moved });
  });

  element.addEventListener("pointercancel", (event) => {
    // The browser took the gesture over (a swipe scrolls the page): nothing was chosen.
    if (!drag || event.pointerId !== drag.id) return;
    selection = drag.before;
    settle();
    paintSelection();
  });

  return {
    element,
    render,
    chosen,
    clear() { selection = null; paintSelection(); },
  };
}
