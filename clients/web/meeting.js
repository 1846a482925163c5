// The meeting page (/meetings/<id>): the video tiles with the active speaker outlined, one's
// own controls, and the panels: participants (with host controls), agenda and materials,
// sign-in and votes. The signalling lives in call.js; the socket comes back by itself after a
// drop or a draining node (live.js) and the page then joins again and syncs.
import { call, session } from "/static/api.js";
import { MeetingCall } from "/static/call.js";
import { $ } from "/static/dom.js";
import { translations } from "/static/i18n.js";
import { setupAgenda } from "/static/meeting-agenda.js";
import { setupCheckin } from "/static/meeting-checkin.js";
import { setupPeople } from "/static/meeting-people.js";
import { Live } from "/static/live.js";
import { LAST_N, narrow, setupTiles } from "/static/meeting-tiles.js";
import { describe } from "/static/meeting-ui.js";
import { setupVotes } from "/static/meeting-votes.js";

const NOTICE_MS = 10000;

const t = translations({
  "zh-CN": {
    "page.title": "视频会议 · 协同",
    "page.heading": "视频会议",
    "status.connecting": "连接中…",
    "status.present": "{n} 人在会",
    "status.reconnecting": "重新连接…",
    "status.failed": "未能加入",
    "status.ended": "会议已结束",
    "status.removed": "主持人已将你移出会议",
    "status.refused": "无法重新加入会议",
    "status.left": "已离开会议",
    "status.signedout": "登录已失效，请重新登录",
    "tiles.label": "参会人画面",
    "controls.label": "会议控制",
    mic: "麦克风",
    camera: "摄像头",
    screen: "共享屏幕",
    hand: "举手",
    leave: "离开",
    end: "结束会议",
    "end.confirm": "结束会议？所有人都将离开。",
    "panels.label": "会议面板",
    "tab.people": "参会人",
    "tab.agenda": "议程材料",
    "tab.checkin": "签到",
    "tab.votes": "表决",
    "muted.by.host": "主持人已将你静音",
    "unmuted.by.host": "主持人已允许你发言",
    "still.muted": "主持人已将你静音，暂不能打开麦克风",
  },
  en: {
    "page.title": "Meeting · Xietong",
    "page.heading": "Meeting",
    "status.connecting": "Connecting…",
    "status.present": "{n} present",
    "status.reconnecting": "Reconnecting…",
    "status.failed": "Could not join",
    "status.ended": "The meeting has ended",
    "status.removed": "A host removed you from the meeting",
    "status.refused": "Could not rejoin the meeting",
    "status.left": "You left the meeting",
    "status.signedout": "Your session has expired; sign in again",
    "tiles.label": "Video",
    "controls.label": "Meeting controls",
    mic: "Mic",
    camera: "Camera",
    screen: "Share screen",
    hand: "Raise hand",
    leave: "Leave",
    end: "End meeting",
    "end.confirm": "End the meeting for everyone?",
    "panels.label": "Meeting panels",
    "tab.people": "People",
    "tab.agenda": "Agenda",
    "tab.checkin": "Sign-in",
    "tab.votes": "Votes",
    "muted.by.host": "A host muted you",
    "unmuted.by.host": "A host allowed you to speak",
    "still.muted": "A host muted you; the microphone stays off for now",
  },
});

const meetingId = decodeURIComponent(location.pathname.split("/").pop());
let noticeTimer = null;

// One line for errors and notices alike (role=alert), styled by which it is; it clears itself.
function say(text, kind = "error") {
  $("error").textContent = text;
  $("error").className = kind;
  clearTimeout(noticeTimer);
  if (text) noticeTimer = setTimeout(() => { $("error").textContent = ""; }, NOTICE_MS);
}

function translatePage() {
  document.title = t("page.title");
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  for (const node of document.querySelectorAll("[data-t-label]")) node.setAttribute("aria-label", t(node.dataset.tLabel));
}

// Tabs on every screen; a tab with news while another is shown is marked until it is opened.
function setupTabs() {
  const tabs = [...document.querySelectorAll("#panel-tabs [role=tab]")];
  const select = (chosen) => {
    for (const tab of tabs) {
      const on = tab === chosen;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      if (on) tab.classList.remove("attention");
      $(tab.getAttribute("aria-controls")).hidden = !on;
    }
  };
  for (const tab of tabs) tab.addEventListener("click", () => select(tab));
  $("panel-tabs").addEventListener("keydown", (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    const next = tabs[(tabs.indexOf(document.activeElement) + step + tabs.length) % tabs.length];
    select(next);
    next.focus();
  });
  return (name) => {
    const tab = $(`tab-${name}`);
    if (tab.getAttribute("aria-selected") !== "true") tab.classList.add("attention");
  };
}

function toggle(button, apply) {
  button.addEventListener("click", async () => {
    const on = button.getAttribute("aria-pressed") !== "true";
    try {
      if (await apply(on) === false) return;
      button.setAttribute("aria-pressed", String(on));
    } catch (error) {
      say(error.name === "NotAllowedError" ? error.message : describe(error));
    }
  });
}

async function main() {
  translatePage();
  if (!session.get()) {
    location.assign(`/?next=${encodeURIComponent(location.pathname)}`);
    return;
  }
  // A REST call first renews an expired token before the socket presents it.
  const { user } = await call("GET", "/api/v1/auth/me");
  const socket = new Live({ feed: false });
  await socket.start();
  const meeting = new MeetingCall(socket, meetingId);
  window.xietongMeeting = meeting; // for the console and for browser tests
  window.xietongSocket = socket;

  let ended = false;
  let hostMuted = false;
  const flag = setupTabs();
  const ctx = {
    meetingId, user, socket, call: meeting,
    isHost: (userId = user.id) => Boolean(meeting.meeting?.hosts?.includes(userId)),
    live: () => !ended && meeting.meeting?.status !== "ended",
    report: say,
    notify: (text) => say(text, "notice"),
    flag(tab, text) {
      flag(tab);
      if (text) say(text, "notice");
    },
  };
  const tiles = setupTiles(ctx);
  const panels = [setupPeople(ctx), setupAgenda(ctx), setupCheckin(ctx), setupVotes(ctx)];
  const syncPanels = () => Promise.all(panels.map((panel) => panel.sync()));
  const renderPanels = () => panels.forEach((panel) => panel.render());

  const present = () => new Set(meeting.participants.map((p) => p.user_id)).size;
  const showPresent = () => { if (!ended && socket.connected) $("status").textContent = t("status.present", { n: present() }); };
  const subscribe = () => meeting.subscribe(narrow.matches ? { last_n: LAST_N + 1 } : "all").catch(() => {});

  meeting.addEventListener("participants", ({ detail }) => {
    tiles.participants(detail.participants, meeting.sessionId);
    const mine = detail.participants.find((p) => p.session_id === meeting.sessionId);
    if (mine) {
      $("hand").setAttribute("aria-pressed", String(Boolean(mine.hand_raised)));
      hostMuted = Boolean(mine.muted);
    }
    showPresent();
  });
  meeting.addEventListener("track", ({ detail: { streamId, stream } }) => tiles.track(streamId, stream));
  meeting.addEventListener("speaker", ({ detail }) => tiles.speaker(detail, meeting.sessionId));
  meeting.addEventListener("state", ({ detail }) => {
    if (detail.state === "failed" || detail.state === "reconnecting") $("status").textContent = t("status.reconnecting");
    if (detail.state === "connected") showPresent();
  });
  meeting.addEventListener("error", ({ detail }) => say(describe(detail.error)));
  meeting.addEventListener("muted", ({ detail }) => {
    hostMuted = detail.muted;
    if (detail.muted) $("mic").setAttribute("aria-pressed", "false");
    say(t(detail.muted ? "muted.by.host" : "unmuted.by.host"), "notice");
  });
  meeting.addEventListener("updated", ({ detail }) => {
    $("end").hidden = !ctx.isHost();
    $("title-text").textContent = detail.meeting.title;
  });
  meeting.addEventListener("ended", ({ detail }) => {
    ended = true;
    $("status").textContent = t(`status.${detail.reason}`);
    $("controls").hidden = true;
    socket.close();
    renderPanels();
  });

  socket.addEventListener("live:state", ({ detail }) => {
    if (!ended && detail.state === "reconnecting") $("status").textContent = t("status.reconnecting");
  });
  socket.addEventListener("live:restored", async () => {
    try {
      await meeting.rejoin();
      if (ended) return;
      subscribe();
      showPresent();
      await syncPanels();
    } catch (error) {
      say(describe(error));
    }
  });
  socket.addEventListener("live:revoked", () => {
    ended = true;
    $("status").textContent = t("status.signedout");
    $("controls").hidden = true;
    session.clear();
    setTimeout(() => location.assign(`/?next=${encodeURIComponent(location.pathname)}`), 1500);
  });
  narrow.addEventListener("change", subscribe);

  await meeting.join();
  $("title-text").textContent = meeting.meeting.title;
  tiles.self(user.id, meeting.local);
  $("end").hidden = !ctx.isHost();
  $("screen").hidden = !navigator.mediaDevices?.getDisplayMedia;
  if (narrow.matches) subscribe();

  toggle($("mic"), (on) => {
    if (on && hostMuted) {
      say(t("still.muted"));
      return false;
    }
    return meeting.setEnabled("audio", on);
  });
  toggle($("camera"), (on) => meeting.setEnabled("video", on));
  toggle($("screen"), (on) => (on ? meeting.shareScreen() : meeting.stopScreen()));
  toggle($("hand"), (on) => meeting.raiseHand(on));
  $("leave").addEventListener("click", () => meeting.leave().catch(() => {}));
  $("end").addEventListener("click", () => {
    if (confirm(t("end.confirm"))) meeting.end().catch((error) => say(describe(error)));
  });
  showPresent();
  await syncPanels();
}

main().catch((error) => {
  say(describe(error));
  $("status").textContent = t("status.failed");
});
