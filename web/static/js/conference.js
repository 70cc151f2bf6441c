// Case conferences' pages (careteam/conferences/pages.py). An ES module, no build step.
//
// - The schedule form (/conferences): "Suggest agenda" fills the agenda rows from
//   GET /api/v1/conferences/suggestions; "Add an item" adds a row.
// - The room (/conferences/<id>): follows `conference:<id>` and the shown item's `plan:<id>` on the page's one
//   live connection (live.js). On an event it fetches the page again and swaps the parts that changed
//   (elements with data-region), so a live update shows exactly what a load shows, and user text is never
//   built into HTML here. When the facilitator puts another item on screen, every room moves to it and
//   follows that item's plan instead. It says "still here" every heartbeat_seconds (POST .../presence) and
//   "gone" when the page goes away (POST .../leave, keepalive). The facilitator's controls call the JSON
//   API, with If-Match where it asks for one.
// - The summary: a Print button.

import { api, idempotencyKey } from "./api.js";
import { sharedLive, State } from "./live.js";

function field(root, name) {
  return root.querySelector(`[data-field="${name}"]`);
}

// --- The schedule form ---------------------------------------------------------------------------------

function scheduleForm(form) {
  const list = document.getElementById("agenda-row-list");
  const status = document.getElementById("suggest-status");
  const suggest = form.querySelector('[data-action="suggest"]');
  const add = form.querySelector('[data-action="add-item"]');
  const max = Number(list.dataset.max);
  suggest.hidden = false;
  add.hidden = false;

  function addRow() {
    const rows = list.querySelectorAll(".agenda-row");
    if (rows.length >= max) return null;
    const row = rows[rows.length - 1].cloneNode(true);
    const index = rows.length;
    for (const el of row.querySelectorAll("[id]")) el.id = el.id.replace(/^item-\d+-/, `item-${index}-`);
    for (const label of row.querySelectorAll("label[for]")) {
      label.htmlFor = label.htmlFor.replace(/^item-\d+-/, `item-${index}-`);
    }
    for (const error of row.querySelectorAll(".field__error")) error.remove();
    for (const invalid of row.querySelectorAll("[aria-invalid]")) {
      invalid.removeAttribute("aria-invalid");
      invalid.removeAttribute("aria-describedby");
    }
    for (const f of row.querySelectorAll(".field--invalid")) f.classList.remove("field--invalid");
    for (const input of row.querySelectorAll("input, select")) input.value = "";
    list.append(row);
    return row;
  }

  add.addEventListener("click", () => {
    const row = addRow();
    if (row) field(row, "plan").focus();
    else status.textContent = `An agenda holds at most ${max} plans.`;
  });

  suggest.addEventListener("click", async () => {
    status.textContent = "Looking for plans that need discussion…";
    const answer = await api("GET", "/api/v1/conferences/suggestions");
    if (!answer.ok) {
      status.textContent = "Could not get suggestions. Try again.";
      return;
    }
    const chosen = new Set([...list.querySelectorAll('[data-field="plan"]')].map((s) => s.value).filter(Boolean));
    let added = 0;
    for (const s of answer.body.items) {
      if (chosen.has(String(s.plan_id))) continue;
      let row = [...list.querySelectorAll(".agenda-row")].find(
        (r) => !field(r, "plan").value && !field(r, "reason").value,
      );
      row ??= addRow();
      if (!row) break;
      const select = field(row, "plan");
      if (![...select.options].some((o) => o.value === String(s.plan_id))) continue;
      select.value = String(s.plan_id);
      field(row, "reason").value = s.reason.slice(0, 300);
      chosen.add(String(s.plan_id));
      added += 1;
    }
    status.textContent = added
      ? `${added} plan${added === 1 ? "" : "s"} suggested: check the reasons, choose presenters.`
      : "No other plan needs discussion now.";
  });
}

// --- The room ------------------------------------------------------------------------------------------

function room(root) {
  const conferenceId = Number(root.dataset.conferenceId);
  const base = `/api/v1/conferences/${conferenceId}`;
  const facilitates = root.dataset.role === "facilitator";
  const heartbeatMs = Math.max(1, Number(root.dataset.heartbeatSeconds)) * 1000;
  const announcer = document.getElementById("room-announcer");
  const alertBox = document.getElementById("room-alert");
  const liveStatus = document.getElementById("live-status");
  const live = sharedLive();

  const region = (name) => root.querySelector(`[data-region="${name}"]`);
  const head = () => region("head");
  const item = () => region("item");
  const closed = () => ["ended", "cancelled"].includes(head().dataset.status);

  function showError(text) {
    field(alertBox, "alert-text").textContent = text;
    alertBox.hidden = false;
  }
  alertBox.querySelector('[data-action="dismiss-alert"]').addEventListener("click", () => {
    alertBox.hidden = true;
  });

  // --- Fetch the page again and swap regions -----------------------------------------------------------

  let wanted = new Set();
  let fetching = null;

  // Swap `names` from a fresh copy of the page; several asks while one fetch runs make one more fetch. A
  // fetch that fails keeps its parts for the next ask (the next event, or the socket coming back).
  function refresh(names) {
    for (const name of names) wanted.add(name);
    if (fetching) return fetching;
    fetching = (async () => {
      while (wanted.size) {
        const names = wanted;
        wanted = new Set();
        if (!(await swap(names))) {
          for (const name of names) wanted.add(name);
          break;
        }
      }
      fetching = null;
    })();
    return fetching;
  }

  async function swap(names) {
    let response;
    try {
      response = await fetch(location.pathname + location.search, {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
    } catch {
      return false; // the server is away
    }
    if (!response.ok) {
      if (response.status === 404) showError("You are no longer invited to this conference.");
      return response.status < 500;
    }
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    if (!fresh.getElementById("room")) return true; // signed out (the sign-in page): live.js says so
    const before = { item: item()?.dataset.itemId ?? "", plan: item()?.dataset.planId ?? "" };
    const after = fresh.querySelector('[data-region="item"]');
    const itemChanged = (after?.dataset.itemId ?? "") !== before.item;
    const statusChanged = fresh.querySelector('[data-region="head"]')?.dataset.status !== head().dataset.status;
    const all = itemChanged || statusChanged;
    const swapping = all ? ["head", "agenda", "presence", "item", "record", "controls"] : [...names];
    const focus = focusKey(document.activeElement);
    for (const name of swapping) {
      const old = region(name);
      const next = fresh.querySelector(`[data-region="${name}"]`);
      if (old && next) old.replaceWith(document.adoptNode(next));
      else if (old && !next) old.remove();
      else if (next) {
        location.reload(); // a part the page did not have (the agenda's first item): draw it whole
        return true;
      }
    }
    // A keyboard user whose control was swapped keeps her place: the same control in the fresh part, else
    // the start of the part it was in.
    if (focus && !document.activeElement?.closest("[data-region]") && document.activeElement !== focus.element) {
      const again = focus.selector ? root.querySelector(focus.selector) : null;
      (again ?? region(focus.region))?.focus();
    }
    bindControls();
    if (itemChanged) {
      const patient = document.getElementById("item-patient")?.textContent ?? "";
      announcer.textContent = patient ? `Now on screen: ${patient}.` : "The agenda moved on.";
    }
    if (statusChanged) announcer.textContent = `The conference is ${document.getElementById("room-status").textContent}.`;
    followPlan();
    if (closed()) stopPresence();
    return true;
  }

  // Where the focus is, in terms that survive a swap: the element, a selector for its twin, its region.
  function focusKey(element) {
    const part = element?.closest?.("[data-region]");
    if (!part) return null;
    let selector = null;
    if (element.id) selector = `#${CSS.escape(element.id)}`;
    else if (element.dataset.action) {
      selector = `[data-action="${element.dataset.action}"]`;
      if (element.dataset.itemId) selector += `[data-item-id="${element.dataset.itemId}"]`;
    }
    return { element, selector, region: part.dataset.region };
  }

  // --- Streams -------------------------------------------------------------------------------------------

  let plan = null; // { stream, subscription }

  function followPlan() {
    const el = item();
    const planId = el?.dataset.planId;
    const stream = planId ? `plan:${planId}` : null;
    if (plan && plan.stream === stream) return;
    if (plan) live.unsubscribe(plan.stream);
    plan = null;
    if (!stream) return;
    plan = {
      stream,
      subscription: live.subscribe(stream, {
        after: Number(el.dataset.planSeq),
        onEvent: (frame) => {
          if (frame.kind === "message.seen") return;
          refresh(["item", "record"]);
        },
        onResync: () => refresh(["item", "record"]),
        onError: () => {}, // the loan ended, or the plan went away: the next page fetch says so
      }),
    };
  }

  live.subscribe(`conference:${conferenceId}`, {
    after: Number(head().dataset.lastSeq),
    onEvent: (frame) => {
      if (frame.kind === "conference.presence") showPresence(frame.data);
      else refresh(["head", "agenda", "record"]);
    },
    onResync: () => refresh(["head", "agenda", "presence", "item", "record", "controls"]),
    onError: (frame) => showError(frame.detail ?? "The room's live updates stopped."),
  });
  followPlan();

  let wasAway = false;
  live.onState((state) => {
    liveStatus.dataset.state = state;
    const text = { live: "Live", connecting: "Connecting…", reconnecting: "Reconnecting…", stopped: "Not live" }[state];
    field(liveStatus, "live-text").textContent = text ?? state;
    // Back from an outage: catch up on everything (events missed are replayed too; this is cheap and sure).
    if (state === State.live && wasAway) refresh(["head", "agenda", "presence", "item", "record"]);
    wasAway = state === State.reconnecting;
  });
  live.start();

  // --- Presence ------------------------------------------------------------------------------------------

  function showPresence(presence) {
    const list = document.getElementById("presence-list");
    if (!list || !presence || !Array.isArray(presence.present)) return;
    const items = presence.present.map((p) => {
      const li = document.createElement("li");
      li.dataset.userId = String(p.user_id);
      const name = document.createElement("span");
      name.textContent = p.name;
      const role = document.createElement("span");
      role.className = "muted";
      role.textContent = { facilitator: "Facilitator", attendee: "Attendee", observer: "Observer" }[p.role] ?? p.role;
      li.append(name, " ", role);
      return li;
    });
    list.replaceChildren(...items);
    const count = list.closest("section").querySelector(".room-count");
    if (count) count.textContent = String(items.length);
    document.getElementById("presence-empty")?.remove();
  }

  let beat = null;
  async function heartbeat() {
    if (closed()) return;
    const answer = await api("POST", `${base}/presence`);
    if (answer.ok) showPresence(answer.body);
  }
  function stopPresence() {
    clearInterval(beat);
    beat = null;
  }
  if (!closed()) {
    heartbeat();
    beat = setInterval(heartbeat, heartbeatMs);
  }
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
  window.addEventListener("pagehide", () => {
    if (!beat) return;
    // keepalive: the request outlives the page (sendBeacon cannot send the CSRF header).
    fetch(`${base}/leave`, {
      method: "POST",
      keepalive: true,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": csrf },
    }).catch(() => {});
  });
  window.addEventListener("pageshow", (event) => {
    if (event.persisted && !beat && !closed()) {
      heartbeat();
      beat = setInterval(heartbeat, heartbeatMs);
    }
  });

  // --- The facilitator's controls ------------------------------------------------------------------------

  function problem(answer, fallback) {
    if (answer.status === 0) return "The server could not be reached. Try again.";
    return answer.body?.detail ?? answer.body?.title ?? fallback;
  }

  // One run at a time per control. Not `disabled`: that would take a keyboard user's focus away.
  async function act(button, run) {
    if (button.getAttribute("aria-busy") === "true") return;
    button.setAttribute("aria-busy", "true");
    try {
      await run();
    } finally {
      button.removeAttribute("aria-busy");
    }
  }

  async function patchConference(body, say) {
    const version = head().dataset.version;
    const answer = await api("PATCH", base, { body, headers: { "If-Match": `W/"${version}"` } });
    if (answer.ok) {
      announcer.textContent = say;
      await refresh(["head", "agenda", "record", "controls"]);
    } else {
      showError(problem(answer, "The conference could not be changed."));
      if (answer.status === 412) await refresh(["head", "agenda", "record"]);
    }
  }

  async function advance(itemId) {
    const answer = await api("POST", `${base}/advance`, { body: itemId ? { item_id: itemId } : {} });
    if (!answer.ok) showError(problem(answer, "Could not move to the next item."));
    else await refresh(["head", "agenda"]);
  }

  async function patchItem(body, say) {
    const el = item();
    const answer = await api("PATCH", `${base}/items/${el.dataset.itemId}`, {
      body,
      headers: { "If-Match": `W/"${el.dataset.itemVersion}"` },
    });
    if (answer.ok) {
      announcer.textContent = say;
      await refresh(["item", "agenda", "record"]);
      return true;
    }
    showError(problem(answer, "The item could not be saved."));
    if (answer.status === 412) await refresh(["item", "agenda", "record"]);
    return false;
  }

  // The decision form's fields, with the API's field errors shown beside them.
  function decisionBody(form) {
    const data = new FormData(form);
    const body = { text: String(data.get("text") ?? "").trim() };
    const kind = data.get("kind");
    if (kind === "task") {
      body.task = { discipline: data.get("task_discipline"), priority: data.get("task_priority") };
      if (data.get("task_assignee")) body.task.assignee_id = Number(data.get("task_assignee"));
      if (data.get("task_due")) body.task.due_date = data.get("task_due");
    } else if (kind === "referral") {
      body.referral = { discipline: data.get("referral_discipline"), priority: data.get("referral_priority") };
    }
    return body;
  }

  function showFieldErrors(form, answer) {
    for (const el of form.querySelectorAll("[data-error]")) {
      el.hidden = true;
      el.textContent = "";
    }
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    let first = null;
    for (const error of answer.body?.errors ?? []) {
      const name = String(error.field ?? "").replace(/^body\./, "");
      const target = form.querySelector(`[data-error="${name}"]`) ?? form.querySelector('[data-error="text"]');
      if (!target) continue;
      target.textContent = error.message ?? "Check this field.";
      target.hidden = false;
      const input = target.parentElement.querySelector("input, select, textarea");
      if (input) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", target.id);
        first ??= input;
      }
    }
    return first;
  }

  let decisionKey = null; // kept until the decision is recorded: a retry of the same one makes one

  function bindControls() {
    for (const button of root.querySelectorAll("[data-action]:not([data-bound])")) {
      button.dataset.bound = "1";
      const action = button.dataset.action;
      if (button instanceof HTMLFormElement) {
        button.addEventListener("submit", (event) => onSubmit(event, button, action));
        continue;
      }
      if (action === "start") {
        button.addEventListener("click", () =>
          act(button, () => patchConference({ status: "in-progress" }, "The conference has started.")),
        );
      } else if (action === "end") {
        button.addEventListener("click", () => {
          if (!window.confirm("End the conference? Items not yet discussed become not reached and roll over.")) return;
          act(button, () => patchConference({ status: "ended" }, "The conference has ended."));
        });
      } else if (action === "advance") {
        button.addEventListener("click", () => act(button, () => advance(null)));
      } else if (action === "show-item") {
        button.addEventListener("click", () => act(button, () => advance(Number(button.dataset.itemId))));
      }
    }
    const decision = document.getElementById("decision-form");
    if (decision && !decision.dataset.kindBound) {
      decision.dataset.kindBound = "1";
      const showMore = () => {
        const kind = new FormData(decision).get("kind");
        for (const part of decision.querySelectorAll("[data-part]")) part.hidden = part.dataset.part !== kind;
      };
      decision.addEventListener("change", (event) => {
        if (event.target.name === "kind") showMore();
        decisionKey = null; // a changed decision is a new one
      });
      showMore();
    }
  }

  async function onSubmit(event, form, action) {
    event.preventDefault();
    if (!facilitates) return;
    const button = form.querySelector("button[type=submit]");
    await act(button, async () => {
      if (action === "item-status") {
        const status = new FormData(form).get("status");
        const label = form.querySelector("select").selectedOptions[0]?.textContent ?? status;
        await patchItem({ status }, `Outcome set: ${label}.`);
      } else if (action === "minutes") {
        const minutes = new FormData(form).get("minutes");
        await patchItem({ minutes }, "Minutes saved.");
      } else if (action === "decision") {
        const body = decisionBody(form);
        decisionKey ??= idempotencyKey();
        const answer = await api("POST", `${base}/items/${item().dataset.itemId}/decisions`, {
          body,
          headers: { "Idempotency-Key": decisionKey },
        });
        if (answer.ok) {
          decisionKey = null;
          form.reset();
          for (const part of form.querySelectorAll("[data-part]")) part.hidden = true;
          showFieldErrors(form, { body: {} });
          announcer.textContent = `Decision recorded: ${body.text}.`;
          await refresh(["record", "agenda"]);
          document.getElementById("decision-text")?.focus();
        } else if (answer.status === 422) {
          (showFieldErrors(form, answer) ?? document.getElementById("decision-text")).focus();
        } else {
          showError(problem(answer, "The decision could not be recorded."));
        }
      }
    });
  }

  bindControls();
}

// --- The summary ---------------------------------------------------------------------------------------

function summary(button) {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
}

const scheduleEl = document.getElementById("schedule-form");
if (scheduleEl) scheduleForm(scheduleEl);
const roomEl = document.getElementById("room");
if (roomEl) room(roomEl);
const printButton = document.querySelector('[data-action="print"]');
if (printButton) summary(printButton);
