// The participant list (PROTOCOL §6, `meeting:participants`): one row per person however
// many devices they joined from, named from the directory, with the host badge, a raised
// hand and a muted microphone; hosts get the controls the protocol offers (mute / allow to
// speak, lower a hand, make co-host, remove) and, above the list, lock and recording.
import { $, el, fill } from "/static/dom.js";
import { translations } from "/static/i18n.js";
import { describe, nameNode } from "/static/meeting-ui.js";

const t = translations({
  "zh-CN": {
    host: "主持人",
    me: "我",
    hand: "✋ 举手",
    muted: "已静音",
    devices: "{n} 台设备",
    mute: "静音",
    unmute: "允许发言",
    lower: "放下手",
    cohost: "设为主持人",
    remove: "移出",
    "remove.confirm": "将 {name} 移出会议？移出后不能再加入。",
    lock: "锁定会议",
    unlock: "解除锁定",
    locked: "会议已锁定，新的参会人不能加入",
    record: "开始录制",
    "record.stop": "停止录制",
    recording: "● 录制中",
    empty: "暂无参会人",
    "tab.count": "参会人 {n}",
  },
  en: {
    host: "Host",
    me: "Me",
    hand: "✋ Hand raised",
    muted: "Muted",
    devices: "{n} devices",
    mute: "Mute",
    unmute: "Allow to speak",
    lower: "Lower hand",
    cohost: "Make host",
    remove: "Remove",
    "remove.confirm": "Remove {name} from the meeting? They cannot join again.",
    lock: "Lock meeting",
    unlock: "Unlock",
    locked: "The meeting is locked; nobody new can join",
    record: "Record",
    "record.stop": "Stop recording",
    recording: "● Recording",
    empty: "Nobody here yet",
    "tab.count": "People ({n})",
  },
});

export function setupPeople(ctx) {
  const { call: meeting, socket, meetingId, user } = ctx;
  let speaking = null; // user id of the active speaker
  let recording = false;

  // A control's reply carries the meeting as it is now: show that at once.
  async function control(event, payload) {
    try {
      const reply = await socket.call(event, { meeting_id: meetingId, ...payload });
      if (reply?.meeting) meeting.meeting = reply.meeting;
      return reply;
    } catch (error) {
      ctx.report(describe(error));
      return null;
    } finally {
      render();
    }
  }

  function people() {
    const byUser = new Map();
    for (const p of meeting.participants) {
      if (!byUser.has(p.user_id)) byUser.set(p.user_id, []);
      byUser.get(p.user_id).push(p);
    }
    return byUser;
  }

  function row(userId, devices) {
    const host = ctx.isHost(userId);
    const me = userId === user.id;
    // The media node's word (pushed with the participants), which follows every mute at once.
    const muted = devices.some((p) => p.muted);
    const hand = devices.some((p) => p.hand_raised);
    const actions = [];
    if (ctx.isHost() && !me) {
      if (!host) {
        actions.push(el("button", { type: "button", dataset: { action: muted ? "unmute" : "mute" },
          onclick: () => control("meeting:mute", { user_id: userId, muted: !muted }) }, t(muted ? "unmute" : "mute")));
      }
      if (hand) {
        actions.push(el("button", { type: "button", dataset: { action: "lower" },
          onclick: () => control("meeting:hand", { user_id: userId, raised: false }) }, t("lower")));
      }
      if (!host) {
        actions.push(el("button", { type: "button", dataset: { action: "cohost" },
          onclick: () => control("meeting:host", { user_id: userId, keep: true }) }, t("cohost")));
        actions.push(el("button", { type: "button", class: "danger", dataset: { action: "remove" },
          onclick: (event) => {
            const name = event.target.closest("li").querySelector(".name").textContent;
            if (confirm(t("remove.confirm", { name }))) control("meeting:remove", { user_id: userId });
          } }, t("remove")));
      }
    }
    const classes = ["person", host && "host", me && "me", muted && "muted", hand && "hand", speaking === userId && "speaking"];
    return el("li", { class: classes.filter(Boolean).join(" "), dataset: { user: userId } },
      el("div", { class: "who" },
        nameNode(userId),
        host && el("span", { class: "badge badge-host" }, t("host")),
        me && el("span", { class: "badge badge-me" }, t("me")),
        devices.length > 1 && el("span", { class: "badge" }, t("devices", { n: devices.length }))),
      (hand || muted) && el("div", { class: "state" },
        hand && el("span", { class: "badge badge-hand" }, t("hand")),
        muted && el("span", { class: "badge badge-muted" }, t("muted"))),
      actions.length > 0 && el("div", { class: "actions" }, actions));
  }

  function hostTools() {
    const current = meeting.meeting;
    if (!ctx.isHost() || !current) return [];
    return [
      el("button", { type: "button", id: "lock", "aria-pressed": String(Boolean(current.locked)),
        onclick: () => control("meeting:lock", { locked: !current.locked }) }, t(current.locked ? "unlock" : "lock")),
      el("button", { type: "button", id: "record", "aria-pressed": String(recording),
        onclick: () => setRecording(!recording) }, t(recording ? "record.stop" : "record")),
    ];
  }

  async function setRecording(on) {
    try {
      showRecording((await socket.call("meeting:record", { meeting_id: meetingId, recording: on })).recording);
    } catch (error) {
      ctx.report(describe(error));
    }
  }

  function showRecording(state) {
    recording = Boolean(state?.recording);
    $("recording").hidden = !recording;
    render();
  }

  function render() {
    const byUser = people();
    fill($("host-tools"), hostTools());
    $("host-tools").hidden = !ctx.isHost();
    $("locked-note").hidden = !meeting.meeting?.locked;
    fill($("people"), byUser.size ? [...byUser].map(([userId, devices]) => row(userId, devices))
      : el("li", { class: "empty" }, t("empty")));
    $("tab-people").textContent = t("tab.count", { n: byUser.size });
  }

  $("recording").textContent = t("recording");
  $("locked-note").textContent = t("locked");
  meeting.addEventListener("participants", render);
  meeting.addEventListener("updated", render);
  meeting.addEventListener("speaker", ({ detail }) => {
    speaking = detail.user_id;
    render();
  });
  socket.on("meeting:recording", (payload) => {
    if (payload?.meeting_id === meetingId) showRecording(payload);
  });

  return {
    render,
    // After joining and after each rejoin: whether the meeting is being recorded.
    async sync() {
      render();
      try {
        showRecording((await socket.call("meeting:recordings", { meeting_id: meetingId })).recording);
      } catch {
        // Participants of an open meeting who are not on the roll may not ask; nothing to show.
      }
    },
  };
}
