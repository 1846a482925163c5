// People's names from the directory, asked once per page and user.
import { call } from "/static/api.js";

const known = new Map(); // user id -> name, once the directory answered
const asked = new Map(); // user id -> Promise<name>

// The name, or the id itself when the directory does not know them.
export function nameOf(userId) {
  if (!asked.has(userId)) {
    asked.set(userId, call("GET", `/api/v1/directory/users/${encodeURIComponent(userId)}`)
      .then(({ user }) => user.name, () => userId)
      .then((name) => { known.set(userId, name); return name; }));
  }
  return asked.get(userId);
}

// The name if already known, without asking.
export function knownName(userId) {
  return known.get(userId);
}
