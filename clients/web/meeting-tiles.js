// The video tiles: one per device that sends media (`<user_id>.<session_id>`, the stream id of
// PROTOCOL §6) and "self" for the local preview. The active speaker is outlined. On a narrow
// screen only the last N speakers' tiles are shown, most recent first, with one's own last;
// the server is asked to forward just those cameras (`meeting:subscribe` with `last_n`).
import { $, el } from "/static/dom.js";
import { translations } from "/static/i18n.js";
import { nameOf } from "/static/names.js";

export const LAST_N = 4;
export const narrow = matchMedia("(max-width: 700px)");

const t = translations({
  "zh-CN": { self: "{name}（我）", hand: "举手", muted: "已静音" },
  en: { self: "{name} (me)", hand: "Hand raised", muted: "Muted" },
});

export function setupTiles(ctx) {
  const tiles = new Map(); // key -> figure
  let recent = []; // keys of the others, latest speaker first, then in order of arrival

  function tile(key, userId) {
    let figure = tiles.get(key);
    if (figure) return figure;
    const name = el("span", { class: "name" }, userId);
    figure = el("figure", { class: "tile", dataset: { stream: key, user: userId } },
      el("video", { autoplay: true, playsInline: true, muted: key === "self" }),
      el("figcaption", {}, name,
        el("span", { class: "flag flag-hand", title: t("hand"), "aria-label": t("hand") }, "✋"),
        el("span", { class: "flag flag-muted", title: t("muted"), "aria-label": t("muted") }, "🔇")));
    nameOf(userId).then((known) => { name.textContent = key === "self" ? t("self", { name: known }) : known; });
    $("tiles").append(figure);
    tiles.set(key, figure);
    if (key !== "self") recent.push(key);
    arrange();
    return figure;
  }

  function drop(key) {
    tiles.get(key)?.remove();
    tiles.delete(key);
    recent = recent.filter((k) => k !== key);
  }

  // Narrow: the LAST_N most recent speakers, in that order, then oneself. Wide: everyone, as
  // they came. Hidden tiles keep playing: their sound is still heard.
  function arrange() {
    const small = narrow.matches;
    recent.forEach((key, index) => {
      const figure = tiles.get(key);
      figure.style.order = small ? String(index) : "";
      figure.classList.toggle("offstage", small && index >= LAST_N);
    });
    const self = tiles.get("self");
    if (self) self.style.order = small ? String(recent.length) : "";
    // The grid sizes the tiles by how many are shown (meeting.css).
    $("tiles").dataset.count = String(tiles.size - (small ? Math.max(0, recent.length - LAST_N) : 0));
  }

  narrow.addEventListener("change", arrange);

  return {
    self(userId, stream) {
      const video = tile("self", userId).querySelector("video");
      video.muted = true;
      video.srcObject = stream;
    },

    track(streamId, stream) {
      const userId = streamId.slice(0, streamId.lastIndexOf("."));
      const video = tile(streamId, userId).querySelector("video");
      if (video.srcObject !== stream) video.srcObject = stream;
    },

    participants(participants, ownSession) {
      const present = new Set(participants.map((p) => `${p.user_id}.${p.session_id}`));
      for (const key of [...tiles.keys()]) if (key !== "self" && !present.has(key)) drop(key);
      for (const p of participants) {
        const key = p.session_id === ownSession ? "self" : `${p.user_id}.${p.session_id}`;
        tiles.get(key)?.classList.toggle("hand", Boolean(p.hand_raised));
        tiles.get(key)?.classList.toggle("muted", Boolean(p.muted));
      }
      arrange();
    },

    speaker({ user_id: userId, session_id: sessionId }, ownSession) {
      const key = sessionId === ownSession ? "self" : `${userId}.${sessionId}`;
      for (const [k, figure] of tiles) figure.classList.toggle("speaking", k === key);
      if (recent.includes(key)) recent = [key, ...recent.filter((k) => k !== key)];
      arrange();
    },

    arrange,
  };
}
