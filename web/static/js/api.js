// Calling careteam's JSON API from a page (docs/api.md). An ES module, no build step.
//
// It owns what every call from a signed-in page needs: the session cookie (same origin), the CSRF token
// from <meta name="csrf-token"> on every write, JSON in and out, and one answer shape whatever happens:
// `{ ok, status, body }`, with status 0 when the server could not be reached (nothing is thrown).

const csrfToken = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

export async function api(method, url, { body, headers = {} } = {}) {
  let response;
  try {
    response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        ...(method === "GET" ? {} : { "X-CSRF-Token": csrfToken }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    return { ok: false, status: 0, body: null };
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  return { ok: response.ok, status: response.status, body: data };
}

// A fresh Idempotency-Key for a POST, kept by the caller until the POST succeeds (so a retry is not a duplicate).
export function idempotencyKey() {
  // crypto.randomUUID needs a secure context; getRandomValues does not.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
