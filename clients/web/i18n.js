// Chinese first (zh-CN); English when the browser prefers it. Each module keeps its own
// strings next to its code: `const t = translations({ "zh-CN": {...}, en: {...} })`.
export const lang = (() => {
  const wanted = new URLSearchParams(location.search).get("lang") ?? navigator.languages?.[0] ?? navigator.language ?? "zh-CN";
  return wanted.toLowerCase().startsWith("en") ? "en" : "zh-CN";
})();
document.documentElement.lang = lang;

// t("key", { name }) -> the string with `{name}` filled in; a key missing in English falls
// back to Chinese, a key missing everywhere is shown as itself so that it gets noticed.
export function translations(table) {
  return (key, vars = {}) => {
    const text = table[lang]?.[key] ?? table["zh-CN"]?.[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
  };
}

const zone = "Asia/Shanghai";
const locale = lang === "en" ? "en-GB" : "zh-CN";

export function formatTime(iso) {
  return new Date(iso).toLocaleTimeString(locale, { timeZone: zone, hour: "2-digit", minute: "2-digit" });
}

export function formatDateTime(iso) {
  return new Date(iso).toLocaleString(locale, { timeZone: zone, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
}

// "2026-11-23": the calendar day in the organisation's time zone.
export function dayOf(iso) {
  return new Date(iso).toLocaleDateString("en-CA", { timeZone: zone });
}
