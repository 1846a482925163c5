// Booking a room (the form, with attendees, a repeat and an online meeting as the protocol
// offers them) and a booking's detail (check in, cancel, its meeting).
import { ApiError } from "/static/api.js";
import { el, fill } from "/static/dom.js";
import { dayOf, formatDateTime, formatTime } from "/static/i18n.js";
import { mayManage, messageOf, t } from "/static/rooms-text.js";
import { SLOT, hhmm, isoAt, labelOf, span, today, toMinutes } from "/static/rooms-time.js";

const CHECKIN_OPENS_MINUTES = 10;
const MEETINGS_KEY = "xietong.rooms.meetings";

// Which meeting a booking holds: the protocol has no look-up from a booking to its meeting, so
// the client remembers the meetings it created (or was told of by a `conflict`).
export const meetings = {
  all: () => JSON.parse(localStorage.getItem(MEETINGS_KEY) ?? "{}"),
  of: (bookingId) => meetings.all()[bookingId],
  remember(bookingId, meetingId) {
    const known = Object.entries({ ...meetings.all(), [bookingId]: meetingId }).slice(-200);
    localStorage.setItem(MEETINGS_KEY, JSON.stringify(Object.fromEntries(known)));
  },
};

const field = (label, control, extra = {}) => el("label", { class: `field ${extra.class ?? ""}`.trim() }, el("span", {}, label), control);
const check = (name, label, checked = false) =>
  el("label", { class: "check" }, el("input", { type: "checkbox", name, checked }), el("span", {}, label));

function peoplePicker(ctx) {
  const chosen = new Map();
  const chips = el("ul", { class: "chips" });
  const found = el("ul", { class: "found-people" });
  const search = el("input", { type: "search", name: "people", placeholder: t("f_search_people"), "aria-label": t("f_attendees"), autocomplete: "off" });
  let timer;
  let asked = 0;

  function paint() {
    fill(chips, [...chosen].map(([id, name]) => el("li", { class: "chip", dataset: { user: id } }, name,
      el("button", { type: "button", "aria-label": `${t("remove")} ${name}`, onclick: () => { chosen.delete(id); paint(); } }, "×"))));
  }

  function add(user) {
    chosen.set(user.id, user.name);
    search.value = "";
    fill(found);
    paint();
  }

  search.addEventListener("input", () => {
    clearTimeout(timer);
    const q = search.value.trim();
    if (!q) return fill(found);
    timer = setTimeout(async () => {
      const mine = ++asked;
      const { users } = await ctx.call("GET", `/api/v1/directory/users?q=${encodeURIComponent(q)}`);
      if (mine !== asked) return;
      const offered = users.filter((u) => u.id !== ctx.me.id && !chosen.has(u.id)).slice(0, 8);
      fill(found, offered.length ? null : el("li", { class: "hint" }, t("no_people")),
        offered.map((u) => el("li", {}, el("button", { type: "button", dataset: { user: u.id }, onclick: () => add(u) },
          `${u.name} · ${u.title || u.username}`))));
    }, 250);
  });
  search.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault(); // Enter picks the first one found, it does not book
    found.querySelector("button")?.click();
  });
  return { element: el("div", { class: "people-picker" }, chips, search, found), ids: () => [...chosen.keys()] };
}

function timeOptions(select, from, to, wanted) {
  const options = [];
  for (let minute = from; minute <= to; minute += SLOT) options.push(el("option", { value: hhmm(minute) }, hhmm(minute)));
  fill(select, options);
  const value = hhmm(Math.max(from, Math.min(to, wanted)));
  select.value = value;
}

// The booking form. `initial` = { room, day, start, end } (minutes); `done(reply)` after a
// booking; `taken(conflicts)` after a clash, so that the grid is read again.
export function bookingForm(ctx, { rooms, initial, done, taken }) {
  const roomSelect = el("select", { name: "room_id", required: true },
    rooms.map(({ room }) => el("option", { value: room.id }, `${room.name}（${t("people", { n: room.capacity })}）`)));
  roomSelect.value = initial.room.id;
  const date = el("input", { type: "date", name: "date", value: initial.day, min: today(), required: true });
  const start = el("select", { name: "start" });
  const end = el("select", { name: "end" });
  const title = el("input", { name: "title", maxlength: 200, required: true, autocomplete: "off" });
  const people = peoplePicker(ctx);
  const headcount = el("input", { type: "number", name: "headcount", min: 0, max: 5000, inputmode: "numeric" });
  const repeat = el("select", { name: "repeat" }, ["none", "daily", "weekly"].map((f) => el("option", { value: f }, t(`repeat_${f}`))));
  const count = el("input", { type: "number", name: "count", min: 2, max: 100, value: 4, inputmode: "numeric" });
  const countField = field(t("f_count"), count, { class: "count" });
  const withMeeting = check("meeting", t("f_meeting"));
  const meetingFields = el("fieldset", { class: "meeting-fields", hidden: true },
    field(t("f_meeting_title"), el("input", { name: "meeting_title", maxlength: 200, autocomplete: "off" })),
    check("open", t("f_open")), check("confidential", t("f_confidential")),
    field(t("f_agenda"), el("textarea", { name: "agenda", rows: 3 })));
  const seriesNote = el("p", { class: "hint", hidden: true }, t("meeting_series"));
  const note = el("p", { class: "hint room-note" });
  const error = el("p", { class: "error", role: "alert" });
  const submit = el("button", { type: "submit", class: "primary" }, t("submit_booking"));
  const form = el("form", { class: "booking-form", novalidate: true },
    field(t("f_room"), roomSelect), note,
    el("div", { class: "when" }, field(t("f_date"), date), field(t("f_start"), start), field(t("f_end"), end)),
    field(t("f_title"), title),
    el("div", { class: "field" }, el("span", {}, t("f_attendees")), people.element),
    field(t("f_headcount"), headcount),
    el("div", { class: "when" }, field(t("f_repeat"), repeat), countField),
    withMeeting, seriesNote, meetingFields, error,
    el("div", { class: "actions" }, submit, el("button", { type: "button", class: "secondary", value: "cancel", onclick: () => done(null) }, t("cancel"))));

  const roomOf = () => rooms.find((r) => r.room.id === roomSelect.value)?.room ?? initial.room;
  function hours() {
    const room = roomOf();
    const open = room.open_hours ?? { start: "08:00", end: "18:00" };
    const [from, to] = [toMinutes(open.start), toMinutes(open.end)];
    const [wantStart, wantEnd] = start.value ? [toMinutes(start.value), toMinutes(end.value)] : [initial.start, initial.end];
    timeOptions(start, Math.ceil(from / SLOT) * SLOT, to - SLOT, wantStart);
    timeOptions(end, Math.ceil(from / SLOT) * SLOT + SLOT, to, Math.max(wantEnd, toMinutes(start.value) + SLOT));
    fill(note, `${t("capacity_of", { n: room.capacity })} · ${open.start}–${open.end}`, room.requires_approval ? ` · ${t("needs_approval")}` : "");
  }
  function shapes() {
    const series = repeat.value !== "none";
    countField.hidden = !series;
    seriesNote.hidden = !(series && withMeeting.querySelector("input").checked);
    meetingFields.hidden = !withMeeting.querySelector("input").checked || series;
  }
  hours();
  shapes();
  roomSelect.addEventListener("change", hours);
  start.addEventListener("change", () => {
    if (toMinutes(end.value) <= toMinutes(start.value)) end.value = hhmm(Math.min(toMinutes(start.value) + 60, toMinutes(end.options[end.options.length - 1].value)));
  });
  repeat.addEventListener("change", shapes);
  withMeeting.addEventListener("change", shapes);

  function body() {
    const payload = { room_id: roomSelect.value, title: title.value.trim(), start: isoAt(date.value, toMinutes(start.value)), end: isoAt(date.value, toMinutes(end.value)) };
    const attendees = people.ids();
    if (attendees.length) payload.attendees = attendees;
    if (Number(headcount.value) > 0) payload.headcount = Number(headcount.value);
    if (repeat.value !== "none") payload.recurrence = { freq: repeat.value, count: Number(count.value) || 2 };
    else if (withMeeting.querySelector("input").checked) {
      const data = new FormData(form);
      const meeting = { open: data.get("open") === "on", confidential: data.get("confidential") === "on" };
      const named = String(data.get("meeting_title") ?? "").trim();
      if (named) meeting.title = named;
      const agenda = String(data.get("agenda") ?? "").split("\n").map((line) => line.trim()).filter(Boolean);
      if (agenda.length) meeting.agenda = agenda.map((item) => ({ title: item.slice(0, 200) }));
      payload.meeting = meeting;
    }
    return payload;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    if (!title.value.trim()) { error.textContent = t("no_title"); title.focus(); return; }
    if (!date.value || toMinutes(end.value) <= toMinutes(start.value)) { error.textContent = t("end_after_start"); return; }
    submit.disabled = true;
    try {
      const reply = await ctx.call("POST", "/api/v1/bookings", body());
      if (reply.meeting) meetings.remember(reply.booking.id, reply.meeting.id);
      done(reply);
    } catch (failure) {
      if (!(failure instanceof ApiError)) throw failure;
      if (failure.code === "conflict" && failure.details?.conflicts?.length) {
        const clashes = failure.details.conflicts;
        const one = clashes[0].booking;
        error.textContent = clashes.length === 1
          ? t("taken", { title: one.title, time: span(one.start, one.end) })
          : t("taken_many", { list: clashes.map((c) => `${dayOf(c.start)} ${span(c.start, c.end)}`).join("、") });
        taken(clashes);
      } else if (failure.status === 400) {
        error.textContent = t("refused", { message: messageOf(failure) });
      } else {
        error.textContent = t("failed", { message: messageOf(failure) });
      }
    } finally {
      submit.disabled = false;
    }
  });
  setTimeout(() => title.focus(), 0);
  return form;
}

// What the notice says after a booking.
export function bookedText(reply, room) {
  const first = reply.booking;
  const values = { room: room?.name ?? first.room_id, day: labelOf(dayOf(first.start)), time: span(first.start, first.end), title: first.title };
  let text = t(first.status === "pending" ? "booked_pending" : "booked", values);
  if (reply.bookings.length > 1) text += t("booked_series", { n: reply.bookings.length });
  if (reply.skipped?.length) text += t("skipped", { n: reply.skipped.length });
  if (reply.meeting) text += t("with_meeting");
  return text;
}

// A booking's detail, drawn into `box`; `changed(text)` after a check-in or a cancellation.
export async function bookingDetail(ctx, box, { bookingId, roomOf, changed }) {
  const { booking } = await ctx.call("GET", `/api/v1/bookings/${encodeURIComponent(bookingId)}`);
  const room = await roomOf(booking.room_id);
  const me = ctx.me.id;
  const now = Date.now();
  const [start, end] = [Date.parse(booking.start), Date.parse(booking.end)];
  const holds = booking.status === "confirmed" || booking.status === "pending";
  const error = el("p", { class: "error", role: "alert" });
  const names = async (ids) => (await Promise.all(ids.map((id) => ctx.nameOf(id)))).join("、");

  const rows = [
    [t("d_room"), room ? `${room.name} · ${room.building} ${t("floor", { floor: room.floor })}` : booking.room_id],
    [t("d_time"), `${labelOf(dayOf(booking.start))} ${span(booking.start, booking.end)}`],
    [t("d_booker"), await ctx.nameOf(booking.booker)],
    [t("d_status"), t(`status_${booking.status}`) + (booking.checked_in_at ? ` · ${t("d_checked_in", { time: formatTime(booking.checked_in_at) })}` : "")],
  ];
  if (booking.attendees.length) rows.push([t("d_attendees"), await names(booking.attendees)]);
  if (booking.headcount) rows.push([t("d_headcount"), String(booking.headcount)]);
  if (booking.reason) rows.push([t("d_reason"), booking.reason]);
  if (booking.status === "pending" && booking.decide_by) rows.push([t("status_pending"), t("decide_by", { time: formatDateTime(booking.decide_by) })]);
  const list = el("dl", {}, rows.map(([label, value]) => [el("dt", {}, label), el("dd", {}, value)]));

  const actions = el("div", { class: "actions" });
  const hints = booking.series_id ? [t("d_series")] : [];
  // Check-in (签到): the booker or an attendee, from 10 minutes before the start until the room
  // releases it (release_minutes after the start) or it ends.
  const attends = booking.booker === me || booking.attendees.includes(me);
  if (booking.status === "confirmed" && !booking.checked_in_at && attends && end > now) {
    const opens = start - CHECKIN_OPENS_MINUTES * 60000;
    const closes = room?.release_minutes ? Math.min(end, start + room.release_minutes * 60000) : end;
    if (now >= opens && now < closes) {
      actions.append(el("button", { type: "button", class: "primary checkin", onclick: () => act("POST", `/checkin`, t("checked_in", { title: booking.title })) }, t("checkin")));
    } else if (now < opens) {
      hints.push(t("checkin_opens", { n: CHECKIN_OPENS_MINUTES }));
    }
    if (room?.release_minutes && now < closes) hints.push(t("checkin_by", { time: formatTime(new Date(closes).toISOString()) }));
  }
  if (booking.status === "pending") hints.push(t("pending_hint"));
  if (booking.status === "pending" && room && mayManage(ctx.me, room)) {
    actions.append(el("button", { type: "button", class: "secondary", onclick: () => ctx.show("work") }, t("open_work")));
  }

  // The meeting held in the booking: joined by its link; the booker may create one.
  const meetingId = meetings.of(booking.id);
  if (meetingId) {
    actions.append(el("a", { class: "button primary join", href: `/meetings/${encodeURIComponent(meetingId)}` }, t("join_meeting")));
  } else if (booking.booker === me && holds && end > now) {
    actions.append(el("button", { type: "button", class: "secondary create-meeting", onclick: createMeeting }, t("create_meeting")));
  }

  // Cancelling: the booker, or someone who manages the room, before it ends.
  const confirmBox = el("div", { class: "confirm", hidden: true });
  if (holds && end > now && (booking.booker === me || (room && mayManage(ctx.me, room)))) {
    actions.append(el("button", { type: "button", class: "danger cancel-booking", onclick: () => { confirmBox.hidden = false; } }, t("cancel_booking")));
    const reason = el("input", { name: "reason", maxlength: 200, placeholder: t("cancel_reason"), "aria-label": t("cancel_reason") });
    const series = booking.series_id ? check("series", t("cancel_series")) : null;
    fill(confirmBox, booking.booker === me ? null : reason, series,
      el("div", { class: "actions" },
        el("button", { type: "button", class: "danger confirm-cancel", onclick: () => {
          const query = new URLSearchParams();
          if (series?.querySelector("input").checked) query.set("series", "true");
          if (reason.value.trim()) query.set("reason", reason.value.trim());
          act("DELETE", query.toString() ? `?${query}` : "", t("cancelled", { title: booking.title }));
        } }, t("confirm_cancel")),
        el("button", { type: "button", class: "secondary", onclick: () => { confirmBox.hidden = true; } }, t("keep"))));
  }

  async function act(method, suffix, text) {
    error.textContent = "";
    for (const button of actions.querySelectorAll("button")) button.disabled = true;
    try {
      await ctx.call(method, `/api/v1/bookings/${encodeURIComponent(booking.id)}${suffix}`);
      changed(text);
    } catch (failure) {
      error.textContent = t("failed", { message: messageOf(failure) });
      for (const button of actions.querySelectorAll("button")) button.disabled = false;
    }
  }

  async function createMeeting() {
    error.textContent = "";
    try {
      const { meeting } = await ctx.live.call("meeting:create", { title: booking.title, invitees: [], booking_id: booking.id });
      meetings.remember(booking.id, meeting.id);
    } catch (failure) {
      if (failure.code !== "conflict" || !failure.details?.meeting_id) {
        error.textContent = t("failed", { message: messageOf(failure) });
        return;
      }
      meetings.remember(booking.id, failure.details.meeting_id); // it had one already
    }
    await bookingDetail(ctx, box, { bookingId, roomOf, changed });
  }

  fill(box, el("div", { class: "booking-detail", dataset: { detail: booking.id, status: booking.status } },
    el("h3", {}, booking.title), list, hints.map((hint) => el("p", { class: "hint" }, hint)), actions, confirmBox, error));
  return booking;
}
