// A Socket.IO v4 client over one WebSocket (Engine.IO 4, websocket transport only): the
// connect handshake with the token, events, acknowledgements and the heartbeat. The web
// client needs nothing more, so it carries no bundled library.
const ENGINE = { OPEN: "0", CLOSE: "1", PING: "2", PONG: "3", MESSAGE: "4" };
const PACKET = { CONNECT: "0", DISCONNECT: "1", EVENT: "2", ACK: "3", CONNECT_ERROR: "4" };
const ACK_TIMEOUT_MS = 15000;

export class SocketError extends Error {
  constructor(error) {
    super(error?.message ?? "request failed");
    this.code = error?.code;
    this.details = error?.details;
  }
}

export class Socket {
  #ws;
  #handlers = new Map();
  #pending = new Map();
  #nextAck = 0;
  #heartbeat = null;
  #pingWindow = 0;

  // Resolves once the server accepted the token; rejects with the server's reason otherwise.
  static connect(token, base = location.href) {
    const url = new URL("/socket.io/?EIO=4&transport=websocket", base);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const socket = new Socket(new WebSocket(url));
    return new Promise((resolve, reject) => {
      socket.#ws.addEventListener("message", function handshake({ data }) {
        if (data.startsWith(ENGINE.OPEN)) {
          const open = JSON.parse(data.slice(1));
          socket.#pingWindow = open.pingInterval + open.pingTimeout;
          socket.#armHeartbeat();
          socket.#ws.send(ENGINE.MESSAGE + PACKET.CONNECT + JSON.stringify({ token }));
        } else if (data.startsWith(ENGINE.MESSAGE + PACKET.CONNECT)) {
          socket.#ws.removeEventListener("message", handshake);
          socket.#ws.addEventListener("message", ({ data: frame }) => socket.#receive(frame));
          resolve(socket);
        } else if (data.startsWith(ENGINE.MESSAGE + PACKET.CONNECT_ERROR)) {
          socket.#ws.close();
          reject(new SocketError(JSON.parse(data.slice(2))));
        }
      });
      socket.#ws.addEventListener("close", () => reject(new SocketError({ code: "unavailable", message: "connection closed" })));
    });
  }

  constructor(ws) {
    this.#ws = ws;
    ws.addEventListener("close", () => {
      clearTimeout(this.#heartbeat);
      for (const { reject } of this.#pending.values()) reject(new SocketError({ code: "unavailable", message: "connection closed" }));
      this.#pending.clear();
      this.#dispatch("disconnect", {});
    });
  }

  on(event, handler) {
    if (!this.#handlers.has(event)) this.#handlers.set(event, []);
    this.#handlers.get(event).push(handler);
  }

  // The reply `{"ok": ...}` as the server sent it (PROTOCOL §0).
  emit(event, payload) {
    const id = this.#nextAck++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new SocketError({ code: "timeout", message: `${event}: no reply` }));
      }, ACK_TIMEOUT_MS);
      this.#pending.set(id, {
        resolve: (reply) => { clearTimeout(timer); resolve(reply); },
        reject: (error) => { clearTimeout(timer); reject(error); },
      });
      this.#ws.send(ENGINE.MESSAGE + PACKET.EVENT + id + JSON.stringify([event, payload]));
    });
  }

  // The reply's data, or a SocketError carrying the error code.
  async call(event, payload) {
    const reply = await this.emit(event, payload);
    if (!reply?.ok) throw new SocketError(reply?.error);
    return reply.data;
  }

  close() {
    this.#ws.close();
  }

  // A server that stops pinging is gone: close, so that callers hear of it.
  #armHeartbeat() {
    clearTimeout(this.#heartbeat);
    this.#heartbeat = setTimeout(() => this.#ws.close(), this.#pingWindow);
  }

  #receive(frame) {
    if (frame === ENGINE.PING) {
      this.#armHeartbeat();
      this.#ws.send(ENGINE.PONG);
      return;
    }
    if (frame === ENGINE.CLOSE) return this.#ws.close();
    if (!frame.startsWith(ENGINE.MESSAGE)) return;
    const type = frame[1];
    const body = frame.slice(2);
    const start = body.indexOf("[");
    if (start < 0) {
      if (type === PACKET.DISCONNECT) this.#ws.close();
      return;
    }
    const id = body.slice(0, start);
    const args = JSON.parse(body.slice(start));
    if (type === PACKET.EVENT) this.#dispatch(args[0], args[1]);
    if (type === PACKET.ACK) {
      const pending = this.#pending.get(Number(id));
      this.#pending.delete(Number(id));
      pending?.resolve(args[0]);
    }
  }

  #dispatch(event, payload) {
    for (const handler of this.#handlers.get(event) ?? []) {
      try {
        handler(payload);
      } catch (error) {
        console.error(`handler of ${event} failed`, error);
      }
    }
  }
}
