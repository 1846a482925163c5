// The live connection a page holds: one socket that comes back by itself. After a drop it
// connects again with growing, jittered pauses; after `server:draining` it waits the pause the
// server asks for (leaving by itself if the node has not closed it by then); it renews the
// token on `auth:expiring`. Handlers given to `on` follow it onto every new connection, and
// after a reconnect the change feed (`changes:since`) is replayed through them, so a view
// sees missed recalls, receipts and card updates as if pushed. Events: `live:state`
// ({state: "online" | "reconnecting"}), `live:restored` (views catch up, e.g. `msg:sync`, or a
// meeting joins again), `live:reset` (the feed was too old: reload) and `live:revoked` (the
// session is gone).
import { ApiError, call, refresh, session } from "/static/api.js";
import { Socket, SocketError } from "/static/socket.js";

const FIRST_PAUSE_MS = 500;
const LONGEST_PAUSE_MS = 10000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const signedOut = (error) => (error instanceof ApiError && error.status === 401)
  || (error instanceof SocketError && error.code === "unauthorized");

export class Live extends EventTarget {
  #socket = null;
  #handlers = new Map();
  #cursor = null;
  #feed;
  #closed = false;
  #drainUntil = 0;
  #drainTimer = null;
  state = "connecting";

  // `feed: false` for a page that needs no change feed (the meeting page).
  constructor({ feed = true } = {}) {
    super();
    this.#feed = feed;
  }

  // The Socket in use now (for the console and for tests that cut the line).
  get current() {
    return this.#socket;
  }

  get connected() {
    return this.#socket !== null;
  }

  // Resolves once connected the first time.
  async start() {
    this.#attach(await Socket.connect(await this.#token()));
    if (this.#feed) this.#cursor = (await this.call("changes:since", {})).cursor;
  }

  // Data of the reply, or a SocketError with `.code`.
  call(event, payload = {}) {
    if (!this.#socket) return Promise.reject(new SocketError({ code: "unavailable", message: "reconnecting" }));
    return this.#socket.call(event, payload);
  }

  on(event, handler) {
    if (!this.#handlers.has(event)) this.#handlers.set(event, []);
    this.#handlers.get(event).push(handler);
    this.#socket?.on(event, handler);
  }

  // For good: no reconnecting after this.
  close() {
    this.#closed = true;
    clearTimeout(this.#drainTimer);
    this.#socket?.close();
  }

  // A REST call renews an expired access token before the socket presents it.
  async #token() {
    await call("GET", "/api/v1/auth/me");
    return session.get().token;
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #setState(state) {
    this.state = state;
    this.#emit("live:state", { state });
  }

  #attach(socket) {
    this.#socket = socket;
    for (const [event, handlers] of this.#handlers) for (const handler of handlers) socket.on(event, handler);
    socket.on("disconnect", () => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      clearTimeout(this.#drainTimer);
      if (!this.#closed) this.#comeBack();
    });
    socket.on("server:draining", ({ retry_after_ms: pause = 2000 } = {}) => {
      this.#drainUntil = Date.now() + pause;
      clearTimeout(this.#drainTimer);
      this.#drainTimer = setTimeout(() => { if (this.#socket === socket) socket.close(); }, pause);
    });
    socket.on("auth:expiring", () => this.#renew(socket));
    socket.on("auth:revoked", () => this.#signOut());
    this.#setState("online");
  }

  #signOut() {
    this.#closed = true;
    this.#emit("live:revoked");
  }

  async #renew(socket) {
    try {
      const renewed = await refresh();
      await socket.call("auth:renew", { token: renewed.token });
    } catch (error) {
      // Not fatal: when the token runs out the server closes us, and coming back renews it.
      console.warn("renewing the token failed", error);
    }
  }

  async #comeBack() {
    this.#setState("reconnecting");
    for (let attempt = 0; !this.#closed; attempt += 1) {
      const backoff = attempt === 0 ? 0 : Math.min(LONGEST_PAUSE_MS, FIRST_PAUSE_MS * 2 ** (attempt - 1));
      const pause = Math.max(this.#drainUntil - Date.now(), backoff * (0.75 + Math.random() / 2));
      if (pause > 0) await sleep(pause);
      if (this.#closed) return;
      let socket;
      try {
        socket = await Socket.connect(await this.#token());
      } catch (error) {
        if (signedOut(error)) return this.#signOut();
        continue;
      }
      if (this.#closed) return socket.close();
      this.#attach(socket);
      try {
        if (this.#feed) await this.#catchUp();
      } catch (error) {
        console.warn("catching up failed", error);
      }
      this.#emit("live:restored");
      return;
    }
  }

  // Replays the change feed through the push handlers; a feed too old to replay asks views to
  // reload what they show.
  async #catchUp() {
    try {
      for (;;) {
        const page = await this.call("changes:since", { cursor: this.#cursor });
        for (const { event, data } of page.events) this.#dispatch(event, data);
        this.#cursor = page.cursor;
        if (!page.has_more) return;
      }
    } catch (error) {
      if (error.code !== "gone") throw error;
      this.#cursor = (await this.call("changes:since", {})).cursor;
      this.#emit("live:reset");
    }
  }

  #dispatch(event, data) {
    for (const handler of this.#handlers.get(event) ?? []) {
      try {
        handler(data);
      } catch (error) {
        console.error(`handler of ${event} failed`, error);
      }
    }
  }
}
