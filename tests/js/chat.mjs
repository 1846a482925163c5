// The official socket.io-client sends a chat message and waits for its own msg:new push.
// usage: node chat.mjs URL TOKEN CONV_ID
import { io } from "socket.io-client";

const [url, token, convId] = process.argv.slice(2);
const socket = io(url, { auth: { token }, transports: ["websocket"], reconnection: false });
const done = (result) => {
  process.stdout.write(JSON.stringify(result) + "\n");
  socket.close();
  process.exit(0);
};
setTimeout(() => done({ outcome: "timeout" }), 8000);
let ack = null;
const pushes = [];
const check = () => {
  const push = ack && pushes.find((p) => p.message.id === ack.message.id);
  if (push) done({ outcome: "delivered", ack, push });
};
socket.on("connect_error", (err) => done({ outcome: "connect_error", message: err.message }));
// The push may arrive before the acknowledgement: the sender's devices get msg:new too.
socket.on("msg:new", (push) => { pushes.push(push); check(); });
socket.on("connect", async () => {
  const reply = await socket.timeout(5000).emitWithAck("msg:send", {
    conv_id: convId, client_msg_id: "js-1", text: "from socket.io-client" });
  if (!reply.ok) return done({ outcome: "refused", reply });
  ack = reply.data;
  check();
});
