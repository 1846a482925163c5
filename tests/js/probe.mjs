// Drives the official socket.io-client against a Xietong node and prints what happened as JSON.
// usage: node probe.mjs URL TOKEN|- [EVENT JSON_PAYLOAD]
import { io } from "socket.io-client";

const [url, token, event, payload] = process.argv.slice(2);
const auth = token === "-" ? {} : { token };
const socket = io(url, { auth, transports: ["websocket"], reconnection: false, timeout: 5000 });
const done = (result) => {
  process.stdout.write(JSON.stringify(result) + "\n");
  socket.close();
  process.exit(0);
};
setTimeout(() => done({ outcome: "timeout" }), 8000);
socket.on("connect_error", (err) => done({ outcome: "connect_error", message: err.message, data: err.data }));
socket.on("connect", async () => {
  if (!event) return done({ outcome: "connected" });
  const reply = await socket.timeout(5000).emitWithAck(event, JSON.parse(payload ?? "{}"));
  done({ outcome: "connected", reply });
});
