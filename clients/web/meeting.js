// The meeting page (/meetings/<id>): a tile per device that sends video, the active speaker
// outlined, and the participant's own controls. The signalling lives in call.js.
import { call, session } from "/static/api.js";
import { MeetingCall } from "/static/call.js";
import { Socket } from "/static/socket.js";

const $ = (id) => document.getElementById(id);
const meetingId = decodeURIComponent(location.pathname.split("/").pop());
const names = new Map();
const tiles = new Map(); // stream id `<user_id>.<session_id>` (or "self") -> tile

async function nameOf(userId) {
  if (!names.has(userId)) {
    names.set(userId, call("GET", `/api/v1/directory/users/${encodeURIComponent(userId)}`)
      .then(({ user }) => user.name).catch(() => userId));
  }
  return names.get(userId);
}

function tile(key, userId, label) {
  let figure = tiles.get(key);
  if (!figure) {
    figure = document.createElement("figure");
    figure.className = "tile";
    figure.dataset.stream = key;
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    figure.append(video, document.createElement("figcaption"));
    $("tiles").append(figure);
    tiles.set(key, figure);
    nameOf(userId).then((name) => { figure.querySelector("figcaption").textContent = label ? `${name}（${label}）` : name; });
  }
  return figure;
}

function showParticipants(participants) {
  const present = new Set(participants.map((p) => `${p.user_id}.${p.session_id}`));
  for (const [key, figure] of tiles) {
    if (key !== "self" && !present.has(key)) {
      figure.remove();
      tiles.delete(key);
    }
  }
  for (const p of participants) {
    const figure = tiles.get(`${p.user_id}.${p.session_id}`);
    figure?.classList.toggle("hand", Boolean(p.hand_raised));
    figure?.classList.toggle("muted", Boolean(p.muted));
  }
  $("status").textContent = `${participants.length} 人在会`;
}

function toggle(button, apply) {
  button.addEventListener("click", async () => {
    const on = button.getAttribute("aria-pressed") !== "true";
    try {
      await apply(on);
      button.setAttribute("aria-pressed", String(on));
    } catch (error) {
      $("error").textContent = error.message;
    }
  });
}

async function main() {
  const current = session.get();
  if (!current) {
    location.assign(`/?next=${encodeURIComponent(location.pathname)}`);
    return;
  }
  // A REST call first renews an expired token before the socket presents it.
  const { user } = await call("GET", "/api/v1/auth/me");
  const socket = await Socket.connect(session.get().token);
  const meeting = new MeetingCall(socket, meetingId);
  window.xietongMeeting = meeting; // for the console and for browser tests

  meeting.addEventListener("participants", ({ detail }) => showParticipants(detail.participants));
  meeting.addEventListener("track", ({ detail: { streamId, stream } }) => {
    const userId = streamId.slice(0, streamId.lastIndexOf("."));
    const video = tile(streamId, userId).querySelector("video");
    if (video.srcObject !== stream) video.srcObject = stream;
  });
  meeting.addEventListener("speaker", ({ detail }) => {
    for (const [key, figure] of tiles) figure.classList.toggle("speaking", key === `${detail.user_id}.${detail.session_id}`);
  });
  meeting.addEventListener("state", ({ detail }) => {
    if (detail.state === "failed" || detail.state === "reconnecting") $("status").textContent = "重新连接…";
  });
  meeting.addEventListener("error", ({ detail }) => { $("error").textContent = detail.error.message; });
  meeting.addEventListener("muted", ({ detail }) => {
    if (detail.muted) $("mic").setAttribute("aria-pressed", "false");
    $("error").textContent = detail.muted ? "主持人已将你静音" : "主持人已允许你发言";
  });
  meeting.addEventListener("updated", ({ detail }) => {
    $("end").hidden = !detail.meeting.hosts.includes(user.id);
  });
  meeting.addEventListener("ended", ({ detail }) => {
    const said = { ended: "会议已结束", removed: "主持人已将你移出会议" };
    $("status").textContent = said[detail.reason] ?? "已离开会议";
    $("controls").hidden = true;
    socket.close();
  });

  await meeting.join();
  $("title").firstChild.textContent = `${meeting.meeting.title} `;
  const self = tile("self", user.id, "我").querySelector("video");
  self.muted = true;
  self.srcObject = meeting.local;
  $("end").hidden = !meeting.meeting.hosts.includes(user.id);

  toggle($("mic"), (on) => meeting.setEnabled("audio", on));
  toggle($("camera"), (on) => meeting.setEnabled("video", on));
  toggle($("screen"), (on) => (on ? meeting.shareScreen() : meeting.stopScreen()));
  toggle($("hand"), (on) => meeting.raiseHand(on));
  $("leave").addEventListener("click", () => meeting.leave());
  $("end").addEventListener("click", () => meeting.end());
}

main().catch((error) => { $("error").textContent = error.message; $("status").textContent = "未能加入"; });
