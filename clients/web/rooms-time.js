// Wall-clock time of the organisation (Asia/Shanghai) for the rooms view: days are
// "YYYY-MM-DD", times of day are minutes since local midnight, the wire speaks ISO-8601 UTC.
import { dayOf, lang } from "/static/i18n.js";

export const ZONE = "Asia/Shanghai";
export const SLOT = 30; // minutes per column of the grid

const offsets = new Intl.DateTimeFormat("en-US", { timeZone: ZONE, timeZoneName: "longOffset" });
const clock = new Intl.DateTimeFormat("en-GB", { timeZone: ZONE, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const dayLabel = new Intl.DateTimeFormat(lang === "en" ? "en-GB" : "zh-CN",
  { timeZone: ZONE, month: "long", day: "numeric", weekday: "short" });

// "+08:00": the zone's offset on that day (taken at local noon).
function offsetOn(day) {
  const name = offsets.formatToParts(new Date(`${day}T04:00:00Z`)).find((p) => p.type === "timeZoneName")?.value ?? "GMT";
  const match = name.match(/GMT([+-]\d{2}):?(\d{2})?/);
  return match ? `${match[1]}:${match[2] ?? "00"}` : "+00:00";
}

export const today = () => dayOf(new Date().toISOString());

export function addDays(day, n) {
  const date = new Date(`${day}T12:00:00Z`);
  date.setUTCDate(date.getUTCDate() + n);
  return date.toISOString().slice(0, 10);
}

export const toMinutes = (hhmm) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
export const hhmm = (minutes) => `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`;

// The wire time (UTC, with milliseconds) of a local day and time of day.
export function isoAt(day, minutes) {
  if (minutes >= 24 * 60) return isoAt(addDays(day, 1), minutes - 24 * 60);
  return new Date(`${day}T${hhmm(minutes)}:00${offsetOn(day)}`).toISOString();
}

// Minutes since local midnight of a wire time.
export function minutesOf(iso) {
  const parts = Object.fromEntries(clock.formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  return Number(parts.hour) * 60 + Number(parts.minute);
}

export const clockOf = (iso) => hhmm(minutesOf(iso));
export const span = (start, end) => `${clockOf(start)}–${clockOf(end)}`;
export const labelOf = (day) => dayLabel.format(new Date(`${day}T04:00:00Z`));
