// Reference chat server for the load test: the official Node socket.io server with default
// options and the minimal protocol (join a room, send to a room). Usage: node server.js PORT
"use strict";

const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 0);
const httpServer = http.createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end('{"status":"ok"}');
    return;
  }
  res.writeHead(404);
  res.end();
});
const io = new Server(httpServer);

let nextId = 0;

function bad(ack, message) {
  if (typeof ack === "function") ack({ ok: false, error: { code: "bad_request", message } });
}

io.on("connection", (socket) => {
  const sender = (socket.handshake.auth && socket.handshake.auth.user) || socket.id;
  socket.on("join", (data, ack) => {
    if (!data || typeof data.room !== "string") return bad(ack, "room");
    socket.join(data.room);
    if (typeof ack === "function") ack({ ok: true, data: {} });
  });
  socket.on("msg:send", (data, ack) => {
    if (!data || typeof data.room !== "string" || typeof data.text !== "string") {
      return bad(ack, "room, text");
    }
    nextId += 1;
    const message = {
      id: String(nextId),
      room: data.room,
      text: data.text,
      client_msg_id: data.client_msg_id,
      sender_id: sender,
    };
    io.to(data.room).emit("msg:new", { message });
    if (typeof ack === "function") ack({ ok: true, data: { message } });
  });
});

httpServer.listen(port, "127.0.0.1", () => {
  console.log(`listening ${httpServer.address().port}`);
});

function stop() {
  io.close();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
