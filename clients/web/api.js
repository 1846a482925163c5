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

export async function call(method, path, body) {
  const current = session.get();
  try {
    return await request(method, path, body, current?.token);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401 || !current?.refresh_token) throw error;
    const renewed = await request("POST", "/api/v1/auth/refresh", { refresh_token: current.refresh_token });
    session.set(renewed);
    return request(method, path, body, renewed.token);
  }
}
