// Sign-in (签到, PROTOCOL §6): everyone on the roll signs in once with `meeting:checkin`; hosts
// see the roll-up (`meeting:attendance`: signed in, on leave, absent) and move each member to
// "signed in" as the `meeting:attendance` pushes arrive, without asking for it again.
import { $, el, fill } from "/static/dom.js";
import { formatTime, translations } from "/static/i18n.js";
import { describe, nameNode, rollOf } from "/static/meeting-ui.js";

const t = translations({
  "zh-CN": {
    checkin: "签到",
    done: "已签到 {at}",
    "done.earlier": "已签到",
    "not.on.roll": "你不在本次会议的名单上，无需签到",
    totals: "应到 {members} 人，已签到 {signed_in} 人，请假 {on_leave} 人，未签到 {absent} 人",
    signed_in: "已签到",
    on_leave: "请假",
    absent: "未签到",
    via_room: "（会议室）",
  },
  en: {
    checkin: "Sign in",
    done: "Signed in at {at}",
    "done.earlier": "Signed in",
    "not.on.roll": "You are not on this meeting's roll; no sign-in needed",
    totals: "{members} expected: {signed_in} signed in, {on_leave} on leave, {absent} absent",
    signed_in: "Signed in",
    on_leave: "On leave",
    absent: "Absent",
    via_room: " (in the room)",
  },
});

const STATUSES = ["signed_in", "on_leave", "absent"];

export function setupCheckin(ctx) {
  const { call: meeting, socket, meetingId, user } = ctx;
  const memory = `xietong.checkin.${meetingId}.${user.id}`;
  let attendance = null; // the hosts' roll-up, kept current by the pushes

  function showSelf() {
    const onRoll = rollOf(meeting.meeting).includes(user.id);
    const signed = sessionStorage.getItem(memory);
    const button = $("checkin");
    button.hidden = !onRoll;
    button.disabled = signed !== null || !ctx.live();
    button.setAttribute("aria-pressed", String(signed !== null));
    $("checkin-state").textContent = !onRoll ? t("not.on.roll")
      : signed === null ? "" : signed ? t("done", { at: formatTime(signed) }) : t("done.earlier");
  }

  function remember(at) {
    sessionStorage.setItem(memory, at ?? "");
    showSelf();
  }

  async function checkin() {
    $("checkin").disabled = true;
    try {
      const { checkin: done } = await socket.call("meeting:checkin", { meeting_id: meetingId, via: "meeting" });
      remember(done.at);
      applyChange(done.user_id, { user_id: done.user_id, status: "signed_in", at: done.at, via: done.via });
    } catch (error) {
      if (error.code === "conflict") remember(null); // signed in before (another device, earlier)
      else {
        ctx.report(describe(error));
        showSelf();
      }
    }
  }

  function applyChange(userId, change) {
    if (!attendance) return;
    const member = attendance.members.find((m) => m.user_id === userId);
    if (member) Object.assign(member, change);
    else attendance.members.push(change);
    renderRoll();
  }

  function renderRoll() {
    const box = $("rollup");
    box.hidden = !attendance || !ctx.isHost();
    if (box.hidden) return;
    const totals = { members: attendance.members.length };
    for (const status of STATUSES) totals[status] = attendance.members.filter((m) => m.status === status).length;
    $("attendance-totals").textContent = t("totals", totals);
    fill($("attendance"), STATUSES.filter((status) => totals[status] > 0).map((status) =>
      el("li", { class: `group ${status}` },
        el("h3", {}, `${t(status)}（${totals[status]}）`),
        el("ul", {}, attendance.members.filter((m) => m.status === status).map((m) =>
          el("li", { dataset: { user: m.user_id, status: m.status } },
            nameNode(m.user_id),
            m.at && el("small", {}, ` ${formatTime(m.at)}${m.via === "room" ? t("via_room") : ""}`)))))));
  }

  async function loadRoll() {
    if (!ctx.isHost()) {
      attendance = null;
      renderRoll();
      return;
    }
    try {
      attendance = (await socket.call("meeting:attendance", { meeting_id: meetingId })).attendance;
      const mine = attendance.members.find((m) => m.user_id === user.id);
      if (mine?.status === "signed_in" && sessionStorage.getItem(memory) === null) remember(mine.at);
    } catch (error) {
      ctx.report(describe(error));
    }
    renderRoll();
  }

  $("checkin").textContent = t("checkin");
  $("checkin").addEventListener("click", checkin);
  socket.on("meeting:attendance", (payload) => {
    if (payload?.meeting_id !== meetingId || !payload.change) return;
    if (attendance) applyChange(payload.change.user_id, payload.change);
    else if (ctx.isHost()) loadRoll();
  });
  meeting.addEventListener("updated", () => {
    showSelf();
    // Made a host (or no longer one): the roll-up comes or goes.
    if (ctx.isHost() !== (attendance !== null)) loadRoll();
  });

  return {
    render() { showSelf(); renderRoll(); },
    async sync() { showSelf(); await loadRoll(); },
  };
}
