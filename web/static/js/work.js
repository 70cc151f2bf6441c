// My work (/work): keeps the list live. An ES module, no build step.
//
// The clinician's own stream `user:<id>` says when her worklist may have changed (`work.changed`,
// `notification.created`, or `resync`: events were missed). On any of them this page fetches
// GET /api/v1/me/work with its own filters and page, and draws the groups again from the row <template>,
// with textContent only (titles and names are user text). Focus stays on the row it was on, or moves to
// its group's heading if that row left the page.
//
// An urgent message's "Acknowledge" button posts POST /api/v1/messages/{id}/ack in place (the form under it
// works without this script); the row leaves with the next fetch that no longer lists it.
//
// One connection per page: the header's inbox (inbox.js) subscribes to `user:<id>` on the page's shared
// connection and dispatches each event on `document` as "careteam:inbox" (detail: the event), and
// "careteam:inbox-resync" when events were missed; this script follows those.

import { api } from "./api.js";
import { sharedLive, State } from "./live.js";

const REFRESH_KINDS = new Set(["work.changed", "notification.created"]);
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const state = JSON.parse(document.getElementById("work-state").textContent);
const groupsRoot = document.getElementById("work-groups");
const rowTemplate = document.getElementById("work-row-template");
const urgentTemplate = document.getElementById("work-urgent-template");
const announcer = document.getElementById("work-announce");
// What became of an acknowledgement: its own region, so the list's "My work updated" does not talk over it.
const ackAnnouncer = document.getElementById("work-ack-announce");
const liveStatus = document.getElementById("live-status");
const pagerStatus = document.querySelector(".pager__status");

function field(root, name) {
  return root.querySelector(`[data-field="${name}"]`);
}

// "Due 12 May" this year, "Due 12 May 2027" otherwise, "No due date" (as the page says on load).
function dueText(iso) {
  if (!iso) return "No due date";
  const [year, month, day] = iso.split("-").map(Number);
  const label = `${day} ${MONTHS[month - 1]}`;
  return year === Number(state.today.slice(0, 4)) ? `Due ${label}` : `Due ${label} ${year}`;
}

function rowFor(item) {
  const row = rowTemplate.content.firstElementChild.cloneNode(true);
  const overdue = item.bucket === "overdue";
  row.dataset.key = `${item.kind}-${item.id}`;
  row.dataset.kind = item.kind;
  row.classList.toggle("work-row--overdue", overdue);
  const title = field(row, "title");
  title.textContent = item.title;
  title.href = item.link;
  field(row, "flag").hidden = !overdue;
  field(row, "patient").textContent = item.patient.name;
  field(row, "lane").textContent = state.disciplines[item.discipline] ?? item.discipline;
  field(row, "status").textContent = state.statuses[item.status] ?? item.status;
  const priority = field(row, "priority");
  priority.textContent = state.priorities[item.priority] ?? item.priority;
  priority.classList.toggle("work-row__priority", item.priority !== "routine");
  const due = field(row, "due");
  due.textContent = dueText(item.due_date);
  due.setAttribute("datetime", item.due_date ?? "");
  return row;
}

// An urgent message awaiting her acknowledgement (as the page draws it): a whitespace-folded excerpt.
function urgentRowFor(item) {
  const row = urgentTemplate.content.firstElementChild.cloneNode(true);
  row.dataset.key = `message-${item.message_id}`;
  const text = item.body.split(/\s+/).filter(Boolean).join(" ");
  const most = state.urgent_excerpt;
  const link = field(row, "text");
  link.textContent = text.length <= most ? text : `${text.slice(0, most - 1)}…`;
  link.href = item.link;
  field(row, "patient").textContent = item.patient.name;
  field(row, "author").textContent = item.author;
  field(row, "ack-form").action = `/work/messages/${item.message_id}/ack`;
  field(row, "ack-what").textContent = ` urgent message: ${link.textContent}`;
  return row;
}

// "Urgent: please acknowledge", above every group: shown while any urgent message awaits her. A row she
// was on keeps her focus; if it left (she acknowledged it), focus goes to the row that took its place, the
// one before it, or the page's heading when none is left.
function renderUrgent(items) {
  const section = document.getElementById("work-urgent");
  if (!section || !items) return;
  const rows = field(section, "rows");
  const active = document.activeElement;
  const focused = rows.contains(active) ? active.closest("[data-key]") : null;
  const index = focused ? [...rows.children].indexOf(focused) : -1;
  const wasButton = active?.dataset.field === "ack";
  // A row whose acknowledgement is under way or failed is kept as it is (its button, its error).
  const kept = new Map([...rows.children].map((row) => [row.dataset.key, row]));
  const drawn = items.map((item) => {
    const old = kept.get(`message-${item.message_id}`);
    return old && (old.dataset.busy || !field(old, "ack-error").hidden) ? old : urgentRowFor(item);
  });
  field(section, "count").textContent = String(items.length);
  rows.replaceChildren(...drawn);
  section.hidden = items.length === 0;
  if (!focused) return;
  const same = rows.querySelector(`[data-key="${CSS.escape(focused.dataset.key)}"]`);
  const next = same ?? rows.children[Math.min(index, rows.children.length - 1)];
  if (next) {
    field(next, wasButton ? "ack" : "text").focus();
  } else {
    const heading = document.querySelector("h1");
    heading?.setAttribute("tabindex", "-1");
    heading?.focus();
  }
}

// "Acknowledge" on an urgent row: posted in place; the row leaves when the server's answer (its
// work.changed, or the fetch after the acknowledgement) no longer lists it. An error shows on the row.
async function acknowledge(form) {
  const row = form.closest("[data-key]");
  const id = row.dataset.key.replace("message-", "");
  const button = field(form, "ack");
  const error = field(form, "ack-error");
  // aria-disabled, not disabled: a disabled button would drop her focus to the page's body.
  row.dataset.busy = "1";
  button.setAttribute("aria-disabled", "true");
  error.hidden = true;
  const answer = await api("POST", `/api/v1/messages/${id}/ack`);
  delete row.dataset.busy;
  button.removeAttribute("aria-disabled");
  if (answer.ok) {
    ackAnnouncer.textContent = "Acknowledged.";
  } else {
    error.textContent =
      answer.status === 0
        ? "Could not reach the server: not acknowledged. Try again."
        : answer.body?.detail ?? "Could not acknowledge this message. Reload and try again.";
    error.hidden = false;
    // Also announced: the row itself goes if the message no longer awaits her (say, it was removed).
    ackAnnouncer.textContent = error.textContent;
    button.focus();
  }
  refresh();
}

document.getElementById("work-urgent")?.addEventListener("submit", (e) => {
  // Handled here: forms.js (on document) would disable the button, and with it drop her focus.
  e.preventDefault();
  e.stopPropagation();
  if (!e.target.closest("[data-key]")?.dataset.busy) acknowledge(e.target);
});

// What the list showed last (as JSON): an answer that changes nothing redraws and announces nothing.
let shown = null;

// "Referrals I sent" and (an IPM lead's) "Overdue referrals across my patients": whole lists, redrawn.
function renderSection(id, items) {
  const section = document.getElementById(id);
  if (!section || !items) return;
  field(section, "count").textContent = String(items.length);
  field(section, "rows").replaceChildren(...items.map(rowFor));
  field(section, "empty").hidden = items.length > 0;
}

function render(work) {
  const text = JSON.stringify([work.items, work.counts, work.sent, work.overdue_referrals, work.urgent]);
  if (text === shown) return;
  const first = shown === null;
  shown = text;
  // Where focus was, to put it back on the same row (or its group's heading if the row left the page).
  const active = document.activeElement;
  const focusedRow = groupsRoot.contains(active) ? active.closest("[data-key]") : null;
  const focusedKey = focusedRow?.dataset.key ?? null;
  const focusedGroup = focusedRow?.closest("[data-due]")?.dataset.due ?? null;

  for (const section of groupsRoot.querySelectorAll("[data-due]")) {
    const due = section.dataset.due;
    const items = work.items.filter((item) => item.bucket === due);
    const count = work.counts[due] ?? 0;
    field(section, "count").textContent = String(count);
    field(section, "rows").replaceChildren(...items.map(rowFor));
    const empty = field(section, "empty");
    empty.hidden = items.length > 0;
    empty.textContent = count > 0 ? "None on this page." : `Nothing ${state.groups[due].toLowerCase()}.`;
  }
  renderUrgent(work.urgent);
  renderSection("work-sent", work.sent);
  renderSection("work-overdue-referrals", work.overdue_referrals);
  groupsRoot.dataset.total = String(work.total);
  const none = document.getElementById("work-none");
  if (none) none.hidden = work.total > 0 || (work.urgent ?? []).length > 0;
  if (pagerStatus) {
    const first = work.total === 0 ? 0 : work.offset + 1;
    const last = Math.min(work.total, work.offset + work.limit);
    pagerStatus.textContent = `Showing ${first}–${last} of ${work.total} items`;
  }

  if (focusedKey) {
    const again = groupsRoot.querySelector(`[data-key="${CSS.escape(focusedKey)}"] a`);
    if (again) {
      again.focus();
    } else {
      const heading = groupsRoot.querySelector(`[data-due="${focusedGroup}"] h2`);
      heading?.setAttribute("tabindex", "-1");
      heading?.focus();
    }
  }
  if (!first) announcer.textContent = `My work updated: ${work.total} ${work.total === 1 ? "item" : "items"}.`;
}

function workUrl() {
  const query = new URLSearchParams();
  if (state.filters.patient_id) query.set("patient_id", String(state.filters.patient_id));
  if (state.filters.discipline) query.set("discipline", state.filters.discipline);
  query.set("offset", String(state.offset));
  query.set("limit", String(state.limit));
  return `/api/v1/me/work?${query}`;
}

// One fetch at a time; a change that arrives during one fetches once more after it.
let fetching = false;
let again = false;

async function refresh() {
  if (fetching) {
    again = true;
    return;
  }
  fetching = true;
  try {
    do {
      again = false;
      const answer = await api("GET", workUrl());
      if (answer.ok && answer.body) render(answer.body);
      else if (answer.status === 401) setLive("stopped", "Signed out: reload to sign in");
    } while (again);
  } finally {
    fetching = false;
  }
}

function setLive(stateName, text) {
  liveStatus.dataset.state = stateName;
  field(liveStatus, "live-text").textContent = text;
}

function onState(connection) {
  if (connection === State.live) {
    setLive("live", "Live");
    // Subscribed (again) from "now": one fetch catches what changed since the page was drawn, or while away.
    refresh();
  }
  else if (connection === State.reconnecting) setLive("reconnecting", "Reconnecting…");
  else if (connection === State.stopped) setLive("stopped", "Not live");
}

function onEvent(frame) {
  if (REFRESH_KINDS.has(frame.kind)) refresh();
}

// The header's inbox (inbox.js, on every signed-in page) owns the page's one subscription to `user:<id>` on
// the shared connection and hands each of its events on as a "careteam:inbox" DOM event.
document.addEventListener("careteam:inbox", (e) => onEvent(e.detail));
document.addEventListener("careteam:inbox-resync", () => refresh());
const live = sharedLive();
live.onState(onState); // called at once with the current state too
