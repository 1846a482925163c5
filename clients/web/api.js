// REST access with the session kept in sessionStorage and one refresh on a 401.
const KEY = "xietong.session";

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = error?.code;
    this.details = error?.details;
  }
}

export const session = {
  get: () => JSON.parse(sessionStorage.getItem(KEY) ?? "null"),
  set: (value) => sessionStorage.setItem(KEY, JSON.stringify(value)),
  clear: () => sessionStorage.removeItem(KEY),
};

async function request(method, path, body, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data?.error);
  return data;
}

export async function login(username, password) {
  const data = await request("POST", "/api/v1/auth/login", { username, password });
  session.set(data);
  return data;
}

// A fresh token pair from the refresh token; several callers at once share one request.
let refreshing = null;
export function refresh() {
  refreshing ??= request("POST", "/api/v1/auth/refresh", { refresh_token: session.get()?.refresh_token })
    .then((renewed) => { session.set(renewed); return renewed; })
    .finally(() => { refreshing = null; });
  return refreshing;
}

export async function call(method, path, body) {
  const current = session.get();
  try {
    return await request(method, path, body, current?.token);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401 || !current?.refresh_token) throw error;
    const renewed = await refresh();
    return request(method, path, body, renewed.token);
  }
}

// fetch() with the token for what is not JSON (uploads, downloads, deletes): a 401 renews the
// session once and retries; an error reply throws ApiError.
export async function authorized(path, init = {}) {
  const send = () => fetch(path, { ...init, headers: { ...init.headers, Authorization: `Bearer ${session.get()?.token}` } });
  let response = await send();
  if (response.status === 401 && session.get()?.refresh_token) {
    await refresh();
    response = await send();
  }
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    throw new ApiError(response.status, data?.error);
  }
  return response;
}

// The bytes of an authorised download (files, materials, recordings), saved under `name`.
export async function download(path, name) {
  const url = URL.createObjectURL(await (await authorized(path)).blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// Uploads raw bytes (a File) with the token; the JSON reply.
export async function upload(path, file) {
  const response = await authorized(path, { method: "POST", body: file, headers: { "Content-Type": "application/octet-stream" } });
  return response.json();
}
