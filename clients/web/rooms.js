// 会议室: a live day grid of a building's rooms (rows) over the day's half hours (columns,
// Asia/Shanghai), with bookings as blocks. Drag across free slots (or use the form) to book;
// click a block for its detail (check in, cancel, its meeting); room managers edit rooms.
//
// Live: `rooms:subscribe` makes the server push `room:status` whenever any room's bookings or
// the room itself change; each push (and each reconnect) reads the day's availability again.
import { el, fill } from "/static/dom.js";
import { dayOf } from "/static/i18n.js";
import { bookedText, bookingDetail, bookingForm } from "/static/rooms-booking.js";
import { roomEditor } from "/static/rooms-editor.js";
import { createGrid, rangeOf } from "/static/rooms-grid.js";
import { EQUIPMENT, messageOf, t } from "/static/rooms-text.js";
import { SLOT, addDays, hhmm, labelOf, minutesOf, span, toMinutes, today } from "/static/rooms-time.js";

const BUILDING_KEY = "xietong.rooms.building";
const RELOAD_DELAY_MS = 150;

export function mount(root, ctx) {
  const state = {
    day: today(), building: localStorage.getItem(BUILDING_KEY), buildings: [], minCapacity: "", equipment: new Set(),
    rows: [], bookings: new Map(), names: new Map(), live: new Map(),
  };
  const coarse = matchMedia("(pointer: coarse)").matches;
  root.classList.add("rooms");

  // The toolbar: day, building, filters, a booking without dragging.
  const dayInput = el("input", { type: "date", class: "day-picker", "aria-label": t("date"), value: state.day });
  const dayLabel = el("span", { class: "day-label" });
  const buildingSelect = el("select", { class: "building", "aria-label": t("building") });
  const capacityInput = el("input", { type: "number", class: "min-capacity", min: 1, max: 5000, inputmode: "numeric", placeholder: "—" });
  const equipmentBoxes = EQUIPMENT.map((word) => el("label", { class: "check" },
    el("input", { type: "checkbox", name: "equipment", value: word }), el("span", {}, t(word))));
  const filters = el("details", { class: "filters" }, el("summary", {}, t("filters")),
    el("div", { class: "filter-body" },
      el("label", { class: "field" }, el("span", {}, t("min_capacity")), capacityInput),
      el("div", { class: "equipment-filter" }, equipmentBoxes),
      el("button", { type: "button", class: "secondary clear-filters", onclick: clearFilters }, t("clear_filters"))));
  const toolbar = el("div", { class: "rooms-toolbar" },
    el("div", { class: "day-nav" },
      el("button", { type: "button", class: "day-prev", "aria-label": t("prev_day"), title: t("prev_day"), onclick: () => setDay(addDays(state.day, -1)) }, "‹"),
      dayInput,
      el("button", { type: "button", class: "day-next", "aria-label": t("next_day"), title: t("next_day"), onclick: () => setDay(addDays(state.day, 1)) }, "›"),
      el("button", { type: "button", class: "day-today", onclick: () => setDay(today()) }, t("today")),
      dayLabel),
    el("label", { class: "field building-field" }, el("span", {}, t("building")), buildingSelect),
    filters,
    el("button", { type: "button", class: "primary new-booking", onclick: () => openBooking(grid.chosen() ?? defaultChoice()) }, t("new_booking")));
  const notice = el("p", { class: "rooms-notice", role: "status", hidden: true });
  const hint = el("p", { class: "hint rooms-hint" }, t(coarse ? "tap_hint" : "drag_hint"));
  const grid = createGrid({ me: ctx.me, onSelect: selected, onBooking: showBooking, onEditRoom: editRoom });
  const selectionLabel = el("span", { class: "selection-label" });
  const selectionBar = el("div", { class: "selection-bar", hidden: true }, selectionLabel,
    el("button", { type: "button", class: "primary", onclick: () => openBooking(grid.chosen()) }, t("book")),
    el("button", { type: "button", class: "secondary", onclick: () => { grid.clear(); selectionBar.hidden = true; } }, t("clear")));
  const dialogTitle = el("h2", {});
  const dialogBody = el("div", { class: "dialog-body" });
  const dialog = el("dialog", { class: "rooms-dialog" },
    el("header", {}, dialogTitle, el("button", { type: "button", class: "close", "aria-label": t("close"), onclick: () => dialog.close() }, "×")),
    dialogBody);
  root.append(toolbar, hint, notice, grid.element, selectionBar, dialog);

  // Notices --------------------------------------------------------------------------------
  let noticeTimer;
  function say(text, kind = "ok") {
    clearTimeout(noticeTimer);
    notice.className = `rooms-notice ${kind}`;
    fill(notice, text);
    notice.hidden = false;
    noticeTimer = setTimeout(() => { notice.hidden = true; }, 12000);
  }

  function openDialog(title, content, kind) {
    fill(dialogTitle, title);
    fill(dialogBody, content);
    dialog.dataset.kind = kind;
    if (!dialog.open) dialog.showModal();
  }

  // Reading the grid -------------------------------------------------------------------------
  let asked = 0;
  async function load() {
    const mine = ++asked;
    const query = new URLSearchParams({ date: state.day });
    if (state.building) query.set("building", state.building);
    if (state.minCapacity) query.set("min_capacity", state.minCapacity);
    if (state.equipment.size) query.set("equipment", [...state.equipment].join(","));
    try {
      const data = await ctx.call("GET", `/api/v1/rooms/availability?${query}`);
      if (mine !== asked) return;
      state.rows = data.rooms;
      root.dataset.day = state.day;
      paint();
      learnBookers();
    } catch (failure) {
      if (mine === asked) say(t("failed", { message: messageOf(failure) }), "error");
    }
  }

  function paint() {
    dayInput.value = state.day;
    fill(dayLabel, labelOf(state.day));
    grid.render({ day: state.day, rows: state.rows, range: rangeOf(state.rows), bookings: state.bookings, names: state.names, live: state.live });
  }

  // Who booked each block (the day's availability names no one): each booking is read once.
  const asking = new Set();
  function learnBookers() {
    if (state.bookings.size > 2000) state.bookings.clear(); // a long day's session stays small
    const unknown = state.rows.flatMap((row) => row.busy).map((b) => b.booking_id)
      .filter((id) => !state.bookings.has(id) && !asking.has(id));
    if (!unknown.length) return;
    for (const id of unknown) asking.add(id);
    Promise.all(unknown.map((id) => ctx.call("GET", `/api/v1/bookings/${encodeURIComponent(id)}`)
      .then(async ({ booking }) => {
        state.bookings.set(id, booking);
        if (!state.names.has(booking.booker)) state.names.set(booking.booker, await ctx.nameOf(booking.booker));
      })
      .catch(() => {})
      .finally(() => asking.delete(id)))).then(paint);
  }

  // A push or a reconnect: read the grid again soon (once for a burst); a hidden view waits
  // until it is shown.
  let reloadTimer;
  let stale = false;
  function soon() {
    if (root.hidden) { stale = true; return; }
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(load, RELOAD_DELAY_MS);
  }
  new MutationObserver(() => {
    if (!root.hidden && stale) { stale = false; load(); }
  }).observe(root, { attributes: true, attributeFilter: ["hidden"] });

  async function subscribe() {
    try {
      const { rooms } = await ctx.live.call("rooms:subscribe", state.building ? { building: state.building } : {});
      for (const status of rooms) state.live.set(status.room_id, status);
    } catch (failure) {
      console.warn("rooms:subscribe failed", failure);
    }
  }

  ctx.live.on("room:status", (status) => {
    state.live.set(status.room_id, status);
    soon();
  });
  for (const type of ["live:restored", "live:reset"]) {
    ctx.live.addEventListener(type, () => { subscribe(); soon(); });
  }
  setInterval(() => { if (!root.hidden && !dialog.open) paint(); }, 60000); // the past moves on

  async function loadBuildings() {
    try {
      const { rooms } = await ctx.call("GET", "/api/v1/rooms");
      state.buildings = [...new Set(rooms.map((r) => r.building))].sort((a, b) => a.localeCompare(b, "zh-CN"));
    } catch (failure) {
      say(t("failed", { message: messageOf(failure) }), "error");
    }
    if (!state.buildings.includes(state.building)) state.building = state.buildings[0] ?? null;
    fill(buildingSelect, state.buildings.map((b) => el("option", { value: b }, b)));
    if (state.building) buildingSelect.value = state.building;
    buildingSelect.disabled = state.buildings.length < 2;
  }

  // Changing what is shown ------------------------------------------------------------------
  function setDay(day) {
    if (!day || day === state.day) return;
    state.day = day;
    grid.clear();
    selectionBar.hidden = true;
    load();
  }
  dayInput.addEventListener("change", () => setDay(dayInput.value));
  buildingSelect.addEventListener("change", () => {
    state.building = buildingSelect.value;
    localStorage.setItem(BUILDING_KEY, state.building);
    subscribe();
    load();
  });
  let filterTimer;
  capacityInput.addEventListener("input", () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => {
      const n = Number(capacityInput.value);
      state.minCapacity = Number.isInteger(n) && n >= 1 && n <= 5000 ? String(n) : "";
      load();
    }, 300);
  });
  for (const box of equipmentBoxes) {
    box.querySelector("input").addEventListener("change", (event) => {
      if (event.target.checked) state.equipment.add(event.target.value);
      else state.equipment.delete(event.target.value);
      load();
    });
  }
  function clearFilters() {
    capacityInput.value = "";
    state.minCapacity = "";
    state.equipment.clear();
    for (const box of equipmentBoxes) box.querySelector("input").checked = false;
    load();
  }

  // Booking ----------------------------------------------------------------------------------
  // A drag ends in the form; a tap on a touch screen waits in the selection bar for more.
  function selected(choice, { immediate }) {
    if (!choice) return;
    if (immediate) return openBooking(choice);
    fill(selectionLabel, t("selection", { room: choice.room.name, day: labelOf(choice.day), time: `${hhmm(choice.start)}–${hhmm(choice.end)}` }));
    selectionBar.hidden = false;
  }

  function defaultChoice() {
    const room = state.rows.find((r) => r.room.status === "active")?.room ?? state.rows[0]?.room;
    const open = room?.open_hours ? toMinutes(room.open_hours.start) : 9 * 60;
    let start = Math.max(open, 9 * 60);
    if (state.day === today()) start = Math.max(open, Math.ceil((minutesOf(new Date().toISOString()) + 1) / SLOT) * SLOT);
    return { room, day: state.day, start, end: start + 60 };
  }

  function openBooking(choice) {
    if (!choice?.room) return;
    selectionBar.hidden = true;
    const form = bookingForm(ctx, {
      rooms: state.rows.filter((r) => r.room.status === "active").length ? state.rows.filter((r) => r.room.status === "active") : state.rows,
      initial: choice,
      done(reply) {
        dialog.close();
        grid.clear();
        if (!reply) return;
        for (const booking of reply.bookings) state.bookings.set(booking.id, booking);
        state.names.set(ctx.me.id, ctx.me.name);
        const room = state.rows.find((r) => r.room.id === reply.booking.room_id)?.room;
        say(bookedText(reply, room));
        const day = dayOf(reply.booking.start);
        if (day !== state.day) state.day = day;
        load();
      },
      taken(clashes) {
        const one = clashes[0].booking;
        say(t("taken", { title: one.title, time: span(one.start, one.end) }), "error");
        grid.clear();
        load();
      },
    });
    openDialog(t("form_title"), form, "booking");
  }

  async function roomOf(roomId) {
    const known = state.rows.find((r) => r.room.id === roomId)?.room;
    if (known) return known;
    try {
      return (await ctx.call("GET", `/api/v1/rooms/${encodeURIComponent(roomId)}`)).room;
    } catch {
      return null;
    }
  }

  async function showBooking(bookingId) {
    openDialog(t("detail_title"), el("p", { class: "hint" }, t("loading")), "detail");
    try {
      await bookingDetail(ctx, dialogBody, {
        bookingId, roomOf,
        changed(text) {
          dialog.close();
          say(text);
          load();
        },
      });
    } catch (failure) {
      fill(dialogBody, el("p", { class: "error" }, t("failed", { message: messageOf(failure) })));
    }
  }

  async function editRoom(room) {
    let fresh = room;
    try {
      fresh = (await ctx.call("GET", `/api/v1/rooms/${encodeURIComponent(room.id)}`)).room;
    } catch { /* the grid's copy will do; a stale version is said on saving */ }
    openDialog(`${t("edit_title")}：${fresh.name}`, roomEditor(ctx, {
      room: fresh,
      saved(updated) {
        dialog.close();
        say(t("saved", { name: updated.name }));
        load();
      },
      cancel: () => dialog.close(),
    }), "room");
  }

  // Ready ------------------------------------------------------------------------------------
  (async () => {
    await loadBuildings();
    await subscribe();
    await load();
  })();

  return {
    // { booking_id } shows that booking on its day; { date, building } a day of a building.
    async open(detail = {}) {
      if (detail.building && detail.building !== state.building) {
        state.building = detail.building;
        buildingSelect.value = detail.building;
        subscribe();
      }
      if (detail.booking_id) {
        try {
          const { booking } = await ctx.call("GET", `/api/v1/bookings/${encodeURIComponent(detail.booking_id)}`);
          state.day = dayOf(booking.start);
        } catch { /* the detail says what went wrong */ }
        await load();
        showBooking(detail.booking_id);
      } else if (detail.date) {
        state.day = detail.date;
        await load();
      }
    },
  };
}
