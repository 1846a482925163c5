// One participant's side of a meeting (PROTOCOL §6): one RTCPeerConnection that publishes the
// camera, microphone and screen and receives what the server forwards. Full ICE, no trickle;
// our offers and the server's pushed offers run one at a time, in order; when ours crosses
// a pushed offer the server says `conflict`, and we roll back, answer, and offer again.
import { SocketError } from "/static/socket.js";

const GATHERING_TIMEOUT_MS = 5000;

// Full ICE: the description is sent once every candidate is in it.
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", done);
      clearTimeout(timer);
      resolve();
    };
    // Some interfaces never finish gathering; what is gathered by then is what we have.
    const timer = setTimeout(() => { pc.removeEventListener("icegatheringstatechange", done); resolve(); }, GATHERING_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", done);
  });
}

// Events: "participants" {participants}, "track" {streamId, track}, "speaker" {user_id,
// session_id}, "ended", "state" {state}, "error" {error}.
export class MeetingCall extends EventTarget {
  #socket;
  #queue = Promise.resolve();
  #sources = new Map(); // local track id -> "camera" | "microphone" | "screen"
  #left = false;

  constructor(socket, meetingId) {
    super();
    this.#socket = socket;
    this.meetingId = meetingId;
    this.meeting = null;
    this.sessionId = null;
    this.participants = [];
    this.pc = null;
    this.local = new MediaStream();
    const mine = (handler) => (payload) => {
      if (payload?.meeting_id === this.meetingId && !this.#left) handler(payload);
    };
    socket.on("rtc:offer", mine(({ sdp }) => this.#pushed(sdp)));
    socket.on("meeting:participants", mine(({ participants }) => this.#setParticipants(participants)));
    socket.on("meeting:speaker", mine((speaker) => this.#emit("speaker", speaker)));
    socket.on("meeting:ended", mine(() => this.#finish("ended")));
    socket.on("meeting:reconnect", mine(() => this.#serially(() => this.#reconnect())));
    // A host muted us: the server forwards nothing anyway; the microphone follows suit.
    socket.on("meeting:muted", mine(({ muted }) => {
      if (muted) this.setEnabled("audio", false);
      this.#emit("muted", { muted });
    }));
    socket.on("meeting:removed", mine(() => this.#finish("removed")));
    socket.on("meeting:updated", ({ meeting }) => {
      if (meeting?.id !== this.meetingId || this.#left) return;
      this.meeting = meeting;
      this.#emit("updated", { meeting });
    });
  }

  raiseHand(raised = true) {
    return this.#socket.call("meeting:hand", { meeting_id: this.meetingId, raised });
  }

  async join({ video = true, audio = true } = {}) {
    const media = (video || audio) ? await navigator.mediaDevices.getUserMedia({
      video: video && { width: 640, height: 480, frameRate: 30 }, audio }) : new MediaStream();
    for (const track of media.getTracks()) {
      this.local.addTrack(track);
      this.#sources.set(track.id, track.kind === "audio" ? "microphone" : "camera");
    }
    const joined = await this.#socket.call("meeting:join", { meeting_id: this.meetingId });
    this.meeting = joined.meeting;
    this.sessionId = joined.session_id;
    this.#setParticipants(joined.participants);
    await this.#serially(() => this.#connect());
  }

  // The socket came back after a drop (a new connection, perhaps to another node): the
  // server forgot this device, so join again and offer from a new peer connection with the
  // same local tracks. An ended meeting (`gone`) or a refusal (`forbidden`: removed, locked)
  // ends the call here.
  async rejoin() {
    if (this.#left) return;
    let joined;
    try {
      joined = await this.#socket.call("meeting:join", { meeting_id: this.meetingId });
    } catch (error) {
      if (error instanceof SocketError && (error.code === "gone" || error.code === "forbidden")) {
        this.#finish(error.code === "gone" ? "ended" : "refused");
        return;
      }
      throw error;
    }
    this.meeting = joined.meeting;
    this.sessionId = joined.session_id;
    this.#setParticipants(joined.participants);
    this.#emit("updated", { meeting: this.meeting });
    await this.#serially(() => this.#reconnect());
  }

  // A second video track, sent beside the camera.
  async shareScreen() {
    const screen = await navigator.mediaDevices.getDisplayMedia({ video: true });
    const [track] = screen.getVideoTracks();
    this.#sources.set(track.id, "screen");
    this.local.addTrack(track);
    track.addEventListener("ended", () => this.stopScreen());
    await this.#serially(async () => {
      this.pc.addTransceiver(track, { direction: "sendonly", streams: [this.local] });
      await this.#offer();
    });
  }

  async stopScreen() {
    const track = this.local.getVideoTracks().find((t) => this.#sources.get(t.id) === "screen");
    if (!track) return;
    track.stop();
    this.local.removeTrack(track);
    await this.#serially(async () => {
      const transceiver = this.pc.getTransceivers().find((t) => t.sender.track === track);
      if (transceiver) transceiver.stop();
      await this.#offer();
    });
  }

  // Muting stops sending locally; the m-line stays, so unmuting needs no negotiation.
  setEnabled(kind, enabled) {
    for (const track of this.local.getTracks()) {
      if (track.kind === kind && this.#sources.get(track.id) !== "screen") track.enabled = enabled;
    }
  }

  subscribe(video) {
    return this.#socket.call("meeting:subscribe", { meeting_id: this.meetingId, video });
  }

  async leave() {
    if (this.#left) return;
    try {
      await this.#socket.call("meeting:leave", { meeting_id: this.meetingId });
    } finally {
      this.#finish("left");
    }
  }

  async end() {
    await this.#socket.call("meeting:end", { meeting_id: this.meetingId });
    this.#finish("ended");
  }

  // Sums of the inbound RTP statistics per kind: what the page shows as reception quality.
  async inboundStats() {
    const totals = { video: { framesDecoded: 0, packetsLost: 0, bytesReceived: 0 }, audio: { packetsLost: 0, bytesReceived: 0 } };
    if (!this.pc) return totals;
    (await this.pc.getStats()).forEach((report) => {
      if (report.type !== "inbound-rtp") return;
      const sum = totals[report.kind];
      for (const key of Object.keys(sum)) sum[key] += report[key] ?? 0;
    });
    return totals;
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #setParticipants(participants) {
    this.participants = participants;
    this.#emit("participants", { participants });
  }

  #finish(reason) {
    if (this.#left) return;
    this.#left = true;
    this.pc?.close();
    for (const track of this.local.getTracks()) track.stop();
    this.#emit("ended", { reason });
  }

  // Negotiation steps run one after another; a failed step is reported and the next runs.
  #serially(step) {
    const run = this.#queue.then(() => (this.#left ? undefined : step()));
    this.#queue = run.catch((error) => this.#emit("error", { error }));
    return run;
  }

  #connect() {
    const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: "max-bundle" });
    this.pc = pc;
    for (const track of this.local.getTracks()) {
      pc.addTransceiver(track, { direction: "sendonly", streams: [this.local] });
    }
    pc.addEventListener("track", ({ track, streams }) => {
      if (streams[0]) this.#emit("track", { streamId: streams[0].id, stream: streams[0], track });
    });
    pc.addEventListener("connectionstatechange", () => this.#emit("state", { state: pc.connectionState }));
    return this.#offer();
  }

  async #offer() {
    const pc = this.pc;
    const pushesBefore = this.#pushes;
    await pc.setLocalDescription();
    await gathered(pc);
    const sources = {};
    for (const transceiver of pc.getTransceivers()) {
      const track = transceiver.sender.track;
      if (track && transceiver.mid !== null) sources[transceiver.mid] = this.#sources.get(track.id);
    }
    try {
      const reply = await this.#socket.call("rtc:offer", { meeting_id: this.meetingId, sdp: pc.localDescription.sdp, sources });
      this.sessionId = reply.session_id;
      await pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
    } catch (error) {
      if (!(error instanceof SocketError) || error.code !== "conflict") throw error;
      // The server's offer crossed ours and goes first (PROTOCOL §6, glare): roll back, let
      // its answer step (queued when the push arrives) run, then offer again behind it.
      await pc.setLocalDescription({ type: "rollback" });
      this.#afterPush(pushesBefore).then(() => this.#serially(() => this.#offer()));
    }
  }

  #pushes = 0;
  #pushWaiters = [];

  #pushed(sdp) {
    this.#pushes += 1;
    this.#serially(() => this.#answer(sdp));
    for (const wake of this.#pushWaiters.splice(0)) wake();
  }

  #afterPush(count) {
    if (this.#pushes > count) return Promise.resolve();
    return new Promise((resolve) => this.#pushWaiters.push(resolve));
  }

  async #answer(sdp) {
    const pc = this.pc;
    await pc.setRemoteDescription({ type: "offer", sdp });
    await pc.setLocalDescription();
    await gathered(pc);
    await this.#socket.call("rtc:answer", { meeting_id: this.meetingId, sdp: pc.localDescription.sdp });
  }

  // The media node died: a new connection, offered anew, places the meeting on a live node.
  async #reconnect() {
    this.pc?.close();
    this.#emit("state", { state: "reconnecting" });
    await this.#connect();
  }
}
