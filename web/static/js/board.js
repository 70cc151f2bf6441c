// The live care-plan board page (docs/board.md). An ES module, no build step, no inline code (CSP: script-src 'self').
//
// - Follows the stream "plan:N" through live.js (the connection, seqs, reconnects) from the last seq the page
//   was rendered with; each event is applied here by element id. The connection's state is shown in the
//   "Live" badge and the "Reconnecting…" banner. `resync` means the log cannot fill the gap: the page reloads.
// - Cards are clones of the server-rendered <template id="task-card-template"> (the same Jinja partial as
//   the cards on load), filled with textContent only: user text is never parsed as HTML.
// - Moves (drag and drop, or the keyboard "Move" menu) and edits PATCH /api/v1/tasks/{id} with the card's
//   version in If-Match. 412: the "Changed by …" comparison, nothing overwritten. 403/409: the server's
//   reason beside the card, and the card goes back to where the server says it is.
// - Only legal moves are offered: the Move menu and the drop targets follow the rules the page ships
//   (careteam/plans/rules.py, read by task-rules.js for this user's place on the team). A move to Closed
//   asks for a reason first. Your own Done or Closed shows Undo for the undo window; a finished card offers
//   Reopen (a linked follow-up task). A move that could not reach the server stays on the card as pending,
//   sent again when the connection is back, or discarded by you.

import { api, idempotencyKey } from "./api.js";
import { columnMove, columnRefusal, mayChangeLane, openGates } from "./task-rules.js";
import { MONTHS, formatWhen } from "./when.js";
import { State, sharedLive } from "./live.js";
import "./board-nav.js";

const root = document.getElementById("board-page");
const state = JSON.parse(document.getElementById("board-state").textContent);
const L = state.labels;
const planId = state.plan_id;
const me = state.me;

const boardEl = document.getElementById("board");
const lanesEl = document.getElementById("board-lanes");
const filterForm = document.getElementById("board-filters");
const announcer = document.getElementById("board-announcer");
const liveStatus = document.getElementById("live-status");
const banner = document.getElementById("connection-banner");
const alertEl = document.getElementById("board-alert");
const conflictBanner = document.getElementById("conflict-banner");
const taskDialog = document.getElementById("task-dialog");
const taskForm = document.getElementById("task-form");
const addDialog = document.getElementById("add-dialog");
const addForm = document.getElementById("add-form");
// One Move menu for the whole board: it goes into the card whose Move button opened it.
const moveMenu = document.getElementById("move-menu");
const moveMenuHome = moveMenu.parentElement;
const cancelDialog = document.getElementById("cancel-dialog");
const cancelForm = document.getElementById("cancel-form");
const RULES = state.rules;
const UNDO_MS = state.undo_seconds * 1000;

const POSITION_STEP = 1024;
const HISTORY_MAX = 100;
const FIELD_ORDER = Object.keys(L.fields); // title, description, discipline, assignee_id, status, ...
const UNKNOWN_NAME = "A former team member";

const tasks = new Map(state.tasks.map((t) => [t.id, t])); // the server's truth as last seen here
const goals = new Map(state.goals.map((g) => [g.id, g]));
let members = state.members;
const names = new Map(Object.entries(state.names).map(([id, name]) => [Number(id), name]));
const lastChange = new Map(); // task id -> {actorId, version} of the latest change seen live
const undos = new Map(); // task id -> {status, timer}: your own Done or Closed, undoable until the timer
const pending = new Map(); // task id -> {patch, version, say}: your move that did not reach the server
const previous = new Map(); // task id -> the version before the one shown (your own saves arrive first)
let reloadPending = false;

// --- Small helpers -----------------------------------------------------------------------------------

function field(el, name) {
  return el.querySelector(`[data-field="${name}"]`);
}

function setText(el, name, text) {
  for (const target of el.querySelectorAll(`[data-field="${name}"]`)) target.textContent = text;
}

function part(el, name) {
  return el.querySelector(`[data-part="${name}"]`);
}

// The empty card holds every part of a card, hidden; a card rendered on load holds only the parts it shows.
function showPart(card, name, shown) {
  let el = part(card, name);
  if (!el && shown) {
    const model = part(document.getElementById("task-card-template").content, name);
    el = model.cloneNode(true);
    // In the empty card's order: before the first of the part's next siblings that this card has.
    let next = model.nextElementSibling;
    while (next && !counterpart(card, next)) next = next.nextElementSibling;
    counterpart(card, model.parentElement).insertBefore(el, next ? counterpart(card, next) : null);
  }
  if (el) el.hidden = !shown;
  return el;
}

// The card's element for an element of the empty card (a part, a field, or else its first class).
function counterpart(card, model) {
  if (model.dataset.part) return part(card, model.dataset.part);
  if (model.dataset.field) return field(card, model.dataset.field);
  return card.querySelector(`.${model.classList[0]}`);
}

function clone(templateId) {
  return document.getElementById(templateId).content.firstElementChild.cloneNode(true);
}

function quote(text) {
  return `“${text}”`;
}

function nameOf(userId) {
  if (userId === null || userId === undefined) return "careteam";
  return names.get(userId) ?? UNKNOWN_NAME;
}

function statusLabel(status) {
  return L.statuses[status] ?? String(status);
}

function columnOf(status) {
  return state.column_of[status];
}

function localToday() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

function dueLabel(iso) {
  const [year, month, day] = iso.split("-").map(Number);
  const label = `${day} ${MONTHS[month - 1]}`;
  return year === new Date().getFullYear() ? label : `${label} ${year}`;
}

function isOverdue(task) {
  return Boolean(task.due_date) && task.due_date < localToday() && state.open_columns.includes(columnOf(task.status));
}

function announce(text) {
  announcer.textContent = "";
  // A fresh text node in the next frame: screen readers announce the same sentence twice in a row too.
  requestAnimationFrame(() => { announcer.textContent = text; });
}

function showAlert(title, text, { link } = {}) {
  setText(alertEl, "alert-title", title);
  const body = field(alertEl, "alert-text");
  body.textContent = text;
  if (link) {
    const a = document.createElement("a");
    a.href = link.href;
    a.textContent = link.text;
    body.append(" ", a);
  }
  alertEl.hidden = false;
}

function hideAlert() {
  alertEl.hidden = true;
}

// --- The API -----------------------------------------------------------------------------------------

function patchTask(taskId, patch, version) {
  return api("PATCH", `/api/v1/tasks/${taskId}`, { body: patch, headers: { "If-Match": `W/"${version}"` } });
}

// What to tell the user when a write failed for a reason other than a conflict.
function failureMessage(result) {
  const detail = result.body?.detail;
  switch (result.status) {
    case 0:
      return ["Not saved", "The server could not be reached. Your change was not saved; check the connection and try again."];
    case 401:
      return ["Please sign in again", "You are signed out, so this was not saved."];
    case 403:
      return ["Not saved", detail && !detail.includes("CSRF") ? detail : "This page has expired. Reload it and try again."];
    case 404:
      return ["Not saved", "This task is no longer on this care plan."];
    case 409:
      return ["Not possible now", detail ?? "This change is not allowed."];
    case 422:
      return ["Please check what you entered", detail ?? "Part of the change is not valid."];
    default:
      return ["Not saved", "Something went wrong on the server. Your change was not saved; try again."];
  }
}

function reportFailure(result) {
  const [title, text] = failureMessage(result);
  showAlert(title, text, { link: result.status === 401 ? signInLink() : undefined });
  announce(`${title}. ${text}`);
}

// --- Cards -------------------------------------------------------------------------------------------

function fillCard(card, task) {
  const column = columnOf(task.status);
  const high = state.high_priorities.includes(task.priority);
  const overdue = isOverdue(task);
  card.id = `task-${task.id}`;
  card.dataset.taskId = String(task.id);
  card.dataset.version = String(task.version);
  card.dataset.status = task.status;
  card.dataset.column = column;
  card.dataset.discipline = task.discipline;
  card.dataset.position = String(task.position);
  card.dataset.assignee = task.assignee_id === null ? "" : String(task.assignee_id);
  card.dataset.due = task.due_date ?? "";
  card.dataset.priority = task.priority;
  card.classList.toggle("is-overdue", overdue);
  card.classList.toggle("is-high-priority", high);

  setText(card, "title", task.title);
  setText(card, "title-again", ` ${task.title}`);
  const priority = showPart(card, "priority", high);
  if (priority) {
    priority.textContent = L.priorities[task.priority] ?? task.priority;
    priority.className = `card__priority priority--${task.priority}`;
  }
  setText(card, "status", statusLabel(task.status));

  const assigned = task.assignee_id !== null;
  showPart(card, "assignee", assigned);
  showPart(card, "unassigned", !assigned);
  setText(card, "assignee", assigned ? nameOf(task.assignee_id) : "");

  if (showPart(card, "due", Boolean(task.due_date))) {
    const due = field(card, "due");
    due.dateTime = task.due_date ?? "";
    due.textContent = task.due_date ? dueLabel(task.due_date) : "";
  }
  showPart(card, "overdue", overdue);

  const total = task.checklist.length;
  const done = task.checklist.filter((item) => item.done).length;
  const checklist = showPart(card, "checklist", total > 0);
  if (checklist) {
    setText(checklist, "checklist", `${done}/${total}`);
    field(checklist, "meter").dataset.percent = String(Math.floor((Math.floor((100 * done) / total) + 5) / 10) * 10);
  }

  // A task made by accepting a referral links to it.
  const referral = task.referral_id ?? null;
  const referralPart = showPart(card, "referral", referral !== null);
  if (referralPart) {
    field(referralPart, "referral-link").href = referral === null ? "" : `/referrals/${referral}`;
    setText(referralPart, "referral", referral === null ? "" : String(referral));
  }

  fillLinks(card, task);
  fillGates(card, task);
  refreshUndo(task);
  card.classList.toggle("is-pending", pending.has(task.id));
  if (moveMenu.parentElement === card) fillMoveMenu(task);
}

// "Reopen" links a follow-up and the task it follows up, both ways: each card names the other.
function fillLink(card, name, other) {
  const link = showPart(card, name, other !== null);
  if (!link || other === null) return;
  field(link, `${name}-link`).href = `#task-${other.id}`;
  setText(link, name, `${quote(other.title)} (${L.columns[columnOf(other.status)]})`);
}

function fillLinks(card, task) {
  const from = task.reopened_from_id ? tasks.get(task.reopened_from_id) ?? null : null;
  const followUps = [...tasks.values()].filter((t) => t.reopened_from_id === task.id);
  fillLink(card, "reopened-from", from);
  fillLink(card, "followed-up-by", followUps.length ? followUps[followUps.length - 1] : null);
}

// Readiness gates: a gated card names its open gates, a gate card the tasks it holds back (docs/board.md).
function gatedBy(task) {
  return [...tasks.values()].filter((t) => (t.gates ?? []).includes(task.id) && !isFinished(t));
}

function isFinished(task) {
  return ["done", "closed"].includes(columnOf(task.status));
}

function fillGates(card, task) {
  const open = isFinished(task) ? [] : openGates(RULES, task, tasks);
  const gates = showPart(card, "gates", open.length > 0);
  if (gates) setText(gates, "gates", open.map((g) => quote(g.title)).join(", "));
  const holding = isFinished(task) ? [] : gatedBy(task);
  const gatesFor = showPart(card, "gates-for", holding.length > 0);
  if (gatesFor) setText(gatesFor, "gates-for", holding.map((t) => quote(t.title)).join(", "));
  const linkPart = showPart(card, "link", Boolean(task.link));
  if (linkPart && task.link) {
    field(linkPart, "link").href = task.link;
    setText(linkPart, "link-title", ` for ${quote(task.title)}`);
  }
}

// After a task changed: the cards its gates touch (its gates, old and new, and the tasks it gates) again.
function refillGateCards(task, known) {
  const ids = new Set([...(task.gates ?? []), ...(known?.gates ?? [])]);
  for (const t of tasks.values()) if ((t.gates ?? []).includes(task.id)) ids.add(t.id);
  for (const id of ids) {
    const card = document.getElementById(`task-${id}`);
    if (card && tasks.has(id)) fillCard(card, tasks.get(id));
  }
}

function comesBefore(a, b) {
  // Board order within a cell: position, then id (as the server sorts).
  return a.position < b.position || (a.position === b.position && a.id < b.id);
}

function cardKey(card) {
  return { position: Number(card.dataset.position), id: Number(card.dataset.taskId) };
}

function cellFor(column, discipline) {
  return ensureLane(discipline).querySelector(`.cell[data-column="${column}"]`);
}

function cardsIn(cell, except = null) {
  return [...cell.querySelectorAll(":scope > .card")].filter((c) => c !== except);
}

// Put a card where the task belongs: its lane, its column, in position order. Keeps keyboard focus.
function placeCard(card, task) {
  const cell = cellFor(columnOf(task.status), task.discipline);
  const key = { position: task.position, id: task.id };
  const before = cardsIn(cell, card).find((other) => comesBefore(key, cardKey(other))) ?? null;
  if (card.parentElement === cell && card.nextElementSibling === before) return;
  moveElement(card, cell, before);
}

function moveElement(card, cell, before) {
  const focused = card.contains(document.activeElement) ? document.activeElement : null;
  cell.insertBefore(card, before);
  focused?.focus();
}

function flash(el) {
  el.classList.remove("is-fresh");
  void el.offsetWidth; // restart the animation
  el.classList.add("is-fresh");
}

// Show a task as the server says it is now. Older versions than the one on screen are ignored.
function applyTask(task, { fresh = false } = {}) {
  const known = tasks.get(task.id);
  if (known && known.version > task.version) return;
  if (known && known.version < task.version) previous.set(task.id, known);
  tasks.set(task.id, task);
  let card = document.getElementById(`task-${task.id}`);
  if (!card) card = clone("task-card-template");
  // A move of yours still waiting to be sent keeps the card where you put it, showing that move.
  const waiting = pending.get(task.id);
  const shown = waiting ? { ...task, ...waiting.patch } : task;
  fillCard(card, shown);
  placeCard(card, shown);
  filterCard(card);
  if (fresh) flash(card);
  if (task.reopened_from_id) {
    const original = document.getElementById(`task-${task.reopened_from_id}`);
    if (original && tasks.has(task.reopened_from_id)) fillCard(original, tasks.get(task.reopened_from_id));
  }
  refillGateCards(task, known);
  if (taskDialog.open) {
    const shownId = Number(taskDialog.dataset.taskId);
    if (shownId === task.id || (tasks.get(shownId)?.gates ?? []).includes(task.id)) fillGatesEditor(tasks.get(shownId));
  }
  updateCounts();
  if (taskDialog.open && Number(taskDialog.dataset.taskId) === task.id && fresh) {
    const notice = field(taskForm, "changed-notice");
    notice.textContent = `${nameOf(lastChange.get(task.id)?.actorId)} just changed this task. `
      + "If you save, you will see both versions before anything is overwritten.";
    notice.hidden = false;
  }
}

// --- Lanes, goals, plan, team ------------------------------------------------------------------------

function ensureLane(discipline) {
  const existing = document.getElementById(`lane-${discipline}`);
  if (existing) return existing;
  const lane = clone("lane-template");
  const label = L.disciplines[discipline] ?? discipline;
  lane.id = `lane-${discipline}`;
  lane.dataset.discipline = discipline;
  lane.setAttribute("aria-label", label);
  setText(lane, "lane-label", label);
  setText(lane, "lane-label-again", ` to ${label}`);
  lane.querySelector('[data-action="add-task"]').dataset.discipline = discipline;
  for (const cell of lane.querySelectorAll(".cell")) {
    cell.dataset.discipline = discipline;
    cell.setAttribute("aria-label", `${label}: ${cell.dataset.columnLabel}`);
  }
  // Lanes follow the order of the disciplines (as on load).
  const order = Object.keys(L.disciplines);
  const after = [...lanesEl.querySelectorAll(":scope > .lane")]
    .find((other) => order.indexOf(other.dataset.discipline) > order.indexOf(discipline)) ?? null;
  lanesEl.insertBefore(lane, after);
  document.getElementById("board-empty").hidden = true;
  const select = filterForm.elements.discipline;
  if (![...select.options].some((o) => o.value === discipline)) {
    const option = new Option(label, discipline);
    const next = [...select.options].find((o) => o.value && order.indexOf(o.value) > order.indexOf(discipline));
    select.add(option, next ?? null);
  }
  applyFilters();
  return lane;
}

function applyGoal(goal, { fresh = false } = {}) {
  const known = goals.get(goal.id);
  if (known && known.version > goal.version) return;
  goals.set(goal.id, goal);
  let item = document.getElementById(`goal-${goal.id}`);
  if (!item) {
    item = clone("goal-template");
    item.id = `goal-${goal.id}`;
    document.getElementById("goal-list").append(item);
    document.getElementById("goals-empty").hidden = true;
  }
  item.dataset.goalId = String(goal.id);
  item.dataset.version = String(goal.version);
  item.dataset.status = goal.lifecycle_status;
  setText(item, "description", goal.description);
  setText(item, "target", goal.target);
  field(item, "target").hidden = !goal.target;
  setText(item, "measure-target", measureWords(goal.measure_target));
  field(item, "measure-target").hidden = !goal.measure_target;
  const status = field(item, "status");
  status.textContent = statusLabel(goal.lifecycle_status);
  status.className = `goal__status badge badge--goal-${goal.lifecycle_status}`;
  const due = field(item, "goal-due");
  due.dateTime = goal.due_date ?? "";
  due.textContent = goal.due_date ? dueLabel(goal.due_date) : "";
  part(item, "goal-due").hidden = !goal.due_date;
  const overdue = isGoalOverdue(goal);
  item.classList.toggle("is-overdue", overdue);
  part(item, "goal-overdue").hidden = !overdue;
  if (fresh) flash(item);
}

// A problem's first field error in words ("measure_target.value: a PEG target is from 0 to 10"), else its detail.
function problemText(problem) {
  const first = problem?.errors?.[0];
  if (first) return `${first.field}: ${first.message}`;
  return problem?.detail;
}

// "PEG ≤ 4": a goal's measure target as its card says it (pages.py: measure_words).
function measureWords(target) {
  if (!target) return "";
  return `${L.measures[target.measure] ?? target.measure} ${L.comparators[target.comparator] ?? target.comparator} ${target.value}`;
}

// Overdue against the viewer's own calendar day, as cards are (pages.py: goal_view).
function isGoalOverdue(goal) {
  return Boolean(goal.due_date) && goal.due_date < localToday() && state.open_goals.includes(goal.lifecycle_status);
}

// --- Goal editing: Edit opens the goal's inline form; Save PATCHes the goal with its version -----------

const goalList = document.getElementById("goal-list");

function openGoalForm(item) {
  const goal = goals.get(Number(item.dataset.goalId));
  const form = part(item, "goal-form");
  if (!goal || !form) return;
  form.elements.description.value = goal.description;
  form.elements.target.value = goal.target;
  form.elements.due_date.value = goal.due_date ?? "";
  form.elements.lifecycle_status.value = goal.lifecycle_status;
  if (form.elements.measure) {
    const judged = goal.measure_target;
    form.elements.measure.value = judged?.measure ?? "";
    form.elements.comparator.value = judged?.comparator ?? "<=";
    form.elements.target_value.value = judged ? String(judged.value) : "";
  }
  field(form, "goal-error").hidden = true;
  form.hidden = false;
  item.querySelector('[data-action="edit-goal"]').setAttribute("aria-expanded", "true");
  form.elements.description.focus();
}

function closeGoalForm(item) {
  part(item, "goal-form").hidden = true;
  const edit = item.querySelector('[data-action="edit-goal"]');
  edit.setAttribute("aria-expanded", "false");
  edit.focus();
}

async function saveGoal(item) {
  const form = part(item, "goal-form");
  const error = field(form, "goal-error");
  const body = {
    description: form.elements.description.value.trim(),
    target: form.elements.target.value.trim(),
    due_date: form.elements.due_date.value || null,
    lifecycle_status: form.elements.lifecycle_status.value,
  };
  if (!body.description) {
    error.textContent = "Describe the goal.";
    error.hidden = false;
    form.elements.description.focus();
    return;
  }
  if (form.elements.measure) {
    // The measure target is set as a whole: a measure, how to compare, and the value (or none of them).
    const measure = form.elements.measure.value;
    const raw = form.elements.target_value.value.trim();
    if (measure && raw === "") {
      error.textContent = "Give the target value for the measure, or choose no measure.";
      error.hidden = false;
      form.elements.target_value.focus();
      return;
    }
    body.measure_target = measure
      ? { measure, comparator: form.elements.comparator.value, value: Number(raw) }
      : null;
  }
  const goalId = Number(item.dataset.goalId);
  const result = await api("PATCH", `/api/v1/goals/${goalId}`, { body, headers: { "If-Match": `W/"${item.dataset.version}"` } });
  if (result.ok) {
    applyGoal(result.body);
    closeGoalForm(item);
    announce(`Goal saved: ${result.body.description}`);
    return;
  }
  if (result.status === 412 && result.body?.current) applyGoal(result.body.current);
  error.textContent = result.status === 412
    ? "Someone changed this goal first: the goal now shows their version. Check it and save again."
    : problemText(result.body) ?? "The goal could not be saved: the connection is down. Try again.";
  error.hidden = false;
}

goalList.addEventListener("click", (e) => {
  const actionEl = e.target instanceof Element ? e.target.closest("[data-action]") : null;
  const item = actionEl?.closest(".goal");
  if (!item) return;
  if (actionEl.dataset.action === "edit-goal") openGoalForm(item);
  else if (actionEl.dataset.action === "cancel-goal") closeGoalForm(item);
});

goalList.addEventListener("submit", (e) => {
  e.preventDefault();
  const item = e.target.closest(".goal");
  if (item) saveGoal(item);
});

goalList.addEventListener("keydown", (e) => {
  if (e.key !== "Escape") return;
  const item = e.target instanceof Element ? e.target.closest(".goal") : null;
  if (item && !part(item, "goal-form").hidden) closeGoalForm(item);
});

function applyPlan(plan) {
  for (const el of document.querySelectorAll('[data-plan-field="title"]')) el.textContent = plan.title;
  const status = document.querySelector('[data-plan-field="status"]');
  status.textContent = statusLabel(plan.status);
  status.className = `badge badge--plan-${plan.status}`;
}

function applyTeam(newMembers) {
  members = newMembers;
  for (const m of members) names.set(m.user_id, m.display_name);
  for (const m of members) ensureLane(m.discipline);
  for (const task of tasks.values()) {
    const card = document.getElementById(`task-${task.id}`);
    if (card) fillCard(card, task);
  }
}

function fillMemberSelect(select, selected) {
  select.replaceChildren(new Option("Unassigned", ""));
  for (const m of members) {
    select.add(new Option(`${m.display_name} — ${L.disciplines[m.discipline] ?? m.discipline}`, String(m.user_id)));
  }
  if (selected !== null && selected !== undefined && !members.some((m) => m.user_id === selected)) {
    select.add(new Option(nameOf(selected), String(selected)));
  }
  select.value = selected === null || selected === undefined ? "" : String(selected);
}

// --- Activity history --------------------------------------------------------------------------------

// Events on the plan's stream that are not activity: someone read a thread (careteam/plans/pages.py says
// the same in QUIET_KINDS).
const QUIET_KINDS = new Set(["message.seen"]);
// What the other features' events on this stream say (careteam/plans/pages.py OTHER_WORDS says the same).
const OTHER_WORDS = {
  "referral.created": "referred the patient to",
  "referral.updated": "changed the referral to",
  "referral.claimed": "claimed the referral to",
  "referral.accepted": "accepted the referral to",
  "referral.declined": "declined the referral to",
  "referral.completed": "completed the referral to",
  "referral.revoked": "revoked the referral to",
  "referral.overdue": "marked overdue the referral to",
  "message.created": "posted a message",
  "message.edited": "edited a message",
  "message.deleted": "removed a message",
  "message.acknowledged": "acknowledged an urgent message",
  "measure.recorded": "recorded",
  "measure.entered-in-error": "withdrew as entered in error",
  "response.recorded": "recorded a block response",
  "response.entered-in-error": "withdrew as entered in error a block response",
  "protocol.applied": "applied the protocol",
};

// Keep in step with careteam/ui/board.py `describe`.
function describe(kind, data, before) {
  const sameStatus = (a, b) => a === b;
  switch (kind) {
    case "plan.created":
      return "opened this care plan";
    case "plan.updated":
      if (before && !sameStatus(before.status, data.status)) return `set the care plan to ${statusLabel(data.status)}`;
      return "updated the care plan";
    case "goal.created":
      return `added the goal ${quote(data.description ?? "")}`;
    case "goal.updated":
      if (before && before.lifecycle_status !== data.lifecycle_status) {
        return `marked the goal ${quote(data.description ?? "")} as ${statusLabel(data.lifecycle_status)}`;
      }
      return `updated the goal ${quote(data.description ?? "")}`;
    case "team.updated":
      return "changed the care team";
    case "task.created":
    case "task.moved":
    case "task.updated":
    case "task.undone":
      break;
    default: {
      const words = OTHER_WORDS[kind];
      if (!words) return "made a change";
      if (kind.startsWith("referral.")) return `${words} ${L.disciplines[data.discipline] ?? data.discipline}`;
      if (kind.startsWith("protocol.")) return `${words} ${quote(data.template_name ?? "")} (version ${data.version ?? 1})`;
      if (kind.startsWith("measure.")) return `${words} ${data.code?.display ?? "a score"} ${data.value}${data.unit ?? ""}`;
      if (kind.startsWith("response.")) return `${words}: ${data.relief_percent}% relief over ${data.duration_hours} h`;
      return data.task_id ? `${words} on a task` : `${words} in the team thread`;
    }
  }
  const title = quote(data.title ?? "");
  const column = columnOf(data.status);
  if (kind === "task.created") {
    if (data.reopened_from_id) return `reopened ${title} as a follow-up`;
    return `added ${title} to ${L.disciplines[data.discipline] ?? data.discipline}`;
  }
  if (kind === "task.undone") {
    const undone = { completed: "completing", cancelled: "cancelling" }[before?.status];
    return undone ? `undid ${undone} ${title}` : `undid the last move of ${title}`;
  }
  if (kind === "task.moved") {
    if (!before || columnOf(before.status) !== column) return `moved ${title} to ${L.columns[column] ?? "another column"}`;
    if (before.status !== data.status) return `set ${title} to ${statusLabel(data.status)}`;
    return `reordered ${title}`;
  }
  if (!before) return `updated ${title}`;
  const changed = FIELD_ORDER.filter((f) => JSON.stringify(before[f] ?? null) !== JSON.stringify(data[f] ?? null));
  if (changed.length === 1) {
    const [only] = changed;
    if (only === "assignee_id") return data.assignee_id ? `assigned ${title} to ${nameOf(data.assignee_id)}` : `unassigned ${title}`;
    if (only === "title") return `renamed ${quote(before.title ?? "")} to ${title}`;
    if (only === "discipline") return `moved ${title} to the ${L.disciplines[data.discipline] ?? data.discipline} lane`;
    if (only === "gates") {
      const count = (data.gates ?? []).length;
      return count ? `set the gates of ${title} (${count})` : `removed the gates of ${title}`;
    }
    if (only === "checklist") {
      const items = data.checklist ?? [];
      return `updated the checklist of ${title} (${items.filter((i) => i.done).length}/${items.length})`;
    }
  }
  if (changed.length === 0) return `updated ${title}`;
  return `changed ${title}: ${changed.map((f) => L.fields[f]).join(", ")}`;
}

function addActivity(event, before) {
  const item = clone("activity-template");
  item.dataset.seq = String(event.seq);
  const when = field(item, "when");
  when.dateTime = event.at;
  when.textContent = formatWhen(event.at);
  when.title = new Date(event.at).toLocaleString();
  setText(item, "who", nameOf(event.actor_id));
  setText(item, "text", describe(event.kind, event.data, before));
  const list = document.getElementById("activity-list");
  list.prepend(item);
  while (list.children.length > HISTORY_MAX) list.lastElementChild.remove();
  document.getElementById("activity-empty").hidden = true;
}

// --- Events ------------------------------------------------------------------------------------------

function applyEvent(event) {
  const { kind, data } = event;
  const fresh = event.actor_id !== me;
  let before = null;
  if (kind.startsWith("task.")) {
    before = tasks.get(data.id) ?? null;
    // Your own change was shown from the server's answer before its event: describe it from the one before.
    if (before && before.version >= data.version) before = previous.get(data.id) ?? null;
    lastChange.set(data.id, { actorId: event.actor_id, version: data.version });
    applyTask(data, { fresh });
  } else if (kind.startsWith("goal.")) {
    before = goals.get(data.id) ?? null;
    applyGoal(data, { fresh });
  } else if (kind === "plan.created" || kind === "plan.updated") {
    before = state.plan ?? null;
    state.plan = data;
    applyPlan(data);
  } else if (kind === "team.updated") {
    applyTeam(data.members);
  }
  if (!QUIET_KINDS.has(kind)) addActivity(event, before);
  // Every event of the plan, for the panels other features add to the board (referrals.js): they apply
  // their own kinds, this script only the board's.
  document.dispatchEvent(new CustomEvent("careteam:plan-event", { detail: event }));
}

// --- Live: this plan's events, and the connection's state on screen -----------------------------------

// "Back online" is said after a drop only, not when the connection goes live (again) for another reason.
let wasOffline = false;

function setLive(stateName, text) {
  liveStatus.dataset.state = stateName;
  setText(liveStatus, "live-text", text);
}

function signInLink() {
  return { href: `/login?next=${encodeURIComponent(location.pathname + location.search)}`, text: "Sign in" };
}

function showConnection(connection, { reason } = {}) {
  switch (connection) {
    case State.live:
      banner.hidden = true;
      root.classList.remove("is-offline");
      setLive("live", "Live");
      if (wasOffline) announce("Back online. The board is up to date.");
      wasOffline = false;
      return;
    case State.connecting:
      setLive("connecting", "Connecting…");
      return;
    case State.reconnecting:
      wasOffline = true;
      setLive("reconnecting", "Reconnecting…");
      setText(banner, "banner-title", "Reconnecting…");
      setText(banner, "banner-text",
        "The live connection dropped. Changes made by others will appear as soon as it is back.");
      banner.hidden = false;
      root.classList.add("is-offline");
      return;
    case State.stopped:
      setLive("stopped", "Not live");
      banner.hidden = true;
      root.classList.remove("is-offline");
      if (reason === "signed-out") {
        showAlert("Please sign in again", "You are signed out, so the board is no longer live.", { link: signInLink() });
      }
      return;
    default:
      return;
  }
}

function requestReload() {
  if (taskDialog.open || addDialog.open || cancelDialog.open || pending.size > 0) {
    reloadPending = true;
    setText(banner, "banner-title", "The board needs a reload");
    setText(banner, "banner-text", pending.size > 0
      ? "It will reload once your move that is not saved yet is sent or discarded."
      : "It will reload when you close the form you are working in.");
    banner.hidden = false;
    return;
  }
  location.reload();
}

// A reload waited for a form or a move not saved yet: it happens once none is left.
function reloadIfWaiting() {
  if (reloadPending && !taskDialog.open && !addDialog.open && !cancelDialog.open && pending.size === 0) location.reload();
}

// The page's one connection, shared with the header's inbox (inbox.js).
const live = sharedLive();
live.onState(showConnection);
// Back online: the moves that could not reach the server are sent again (after the missed events).
live.onState((connection) => {
  if (connection === State.live) retryPending();
});
window.addEventListener("online", () => retryPending());
// Leaving the page would lose a move not saved yet: the browser asks first.
window.addEventListener("beforeunload", (e) => {
  if (pending.size === 0) return;
  e.preventDefault();
  e.returnValue = "";
});
const planStream = live.subscribe(`plan:${planId}`, {
  after: Number(root.dataset.lastSeq),
  onEvent(event) {
    root.dataset.lastSeq = String(event.seq);
    applyEvent(event);
  },
  onResync: requestReload,
  onError(frame) {
    if (frame.code === "not_found" || frame.code === "forbidden") {
      live.stop(frame.code);
      showAlert("You can no longer see this care plan", frame.detail ?? "You are no longer on this patient's care team.");
    }
  },
});

// --- Filters -----------------------------------------------------------------------------------------

function filters() {
  const f = filterForm.elements;
  return { mine: f.mine.checked, overdue: f.overdue.checked, closed: f.closed.checked, discipline: f.discipline.value };
}

function filterCard(card, current = filters()) {
  const task = tasks.get(Number(card.dataset.taskId));
  const hide = Boolean(task) && ((current.mine && task.assignee_id !== me) || (current.overdue && !isOverdue(task)));
  card.classList.toggle("is-filtered", hide);
}

function updateCounts() {
  const current = filters();
  const counts = Object.fromEntries(Object.keys(L.columns).map((c) => [c, 0]));
  let shown = 0;
  for (const lane of lanesEl.querySelectorAll(":scope > .lane")) {
    let inLane = 0;
    for (const card of lane.querySelectorAll(".card:not(.is-filtered)")) {
      const column = card.dataset.column;
      if (column === "closed" && !current.closed) continue;
      inLane += 1;
      if (!lane.hidden) counts[column] += 1;
    }
    setText(lane, "lane-count", inLane === 1 ? "1 task" : `${inLane} tasks`);
    if (!lane.hidden) shown += inLane;
  }
  for (const [column, count] of Object.entries(counts)) {
    const el = boardEl.querySelector(`[data-count="${column}"]`);
    if (el) el.textContent = String(count);
  }
  const active = current.mine || current.overdue || current.discipline;
  const summary = document.getElementById("filter-summary");
  summary.textContent = active ? `Showing ${shown} of ${countAll(current)} tasks.` : "";
}

function countAll(current) {
  let all = 0;
  for (const task of tasks.values()) if (current.closed || columnOf(task.status) !== "closed") all += 1;
  return all;
}

function applyFilters() {
  const current = filters();
  boardEl.classList.toggle("board--show-closed", current.closed);
  for (const lane of lanesEl.querySelectorAll(":scope > .lane")) {
    lane.hidden = Boolean(current.discipline) && lane.dataset.discipline !== current.discipline;
  }
  for (const card of lanesEl.querySelectorAll(".card")) filterCard(card, current);
  updateCounts();
  const query = new URLSearchParams();
  if (current.mine) query.set("mine", "1");
  if (current.overdue) query.set("overdue", "1");
  if (current.closed) query.set("closed", "1");
  if (current.discipline) query.set("discipline", current.discipline);
  const search = query.toString();
  // The address keeps its #anchor (a link to a message or a task's comments is followed after this runs).
  history.replaceState(null, "", `${search ? `?${search}` : location.pathname}${location.hash}`);
}

filterForm.addEventListener("change", applyFilters);
filterForm.addEventListener("submit", (e) => {
  e.preventDefault();
  applyFilters();
});

// --- Moving cards: shared by drag and drop and the keyboard menu ------------------------------------

function position(card) {
  return Number(card.dataset.position);
}

// The position for a card put between prev and next (either may be missing) in a cell.
function positionBetween(prev, next, fallback) {
  if (prev && next) return (position(prev) + position(next)) / 2;
  if (prev) return position(prev) + POSITION_STEP;
  if (next) return position(next) - POSITION_STEP;
  return fallback;
}

function describeMove(task, column) {
  return `${quote(task.title)} moved to ${L.columns[column]}.`;
}

// Put the card where the user put it at once, save, and put it back if the server says no (the reason
// beside the card). A move to Closed asks why first: without a reason nothing moves.
async function moveCard(card, cell, before, say = (moved) => describeMove(moved, columnOf(moved.status))) {
  const id = Number(card.dataset.taskId);
  const task = tasks.get(id);
  if (!task) return;
  if (pending.has(id)) {
    announce(`${quote(task.title)} has a move that is not saved yet: send it again or discard it first.`);
    return;
  }
  const cards = cardsIn(cell, card);
  const index = before ? cards.indexOf(before) : cards.length;
  const prev = cards[index - 1] ?? null;
  const next = cards[index] ?? null;
  const column = cell.dataset.column;
  const patch = {};
  if (column !== columnOf(task.status)) patch.status = state.column_default_status[column];
  if (cell.dataset.discipline !== task.discipline) patch.discipline = cell.dataset.discipline;
  const unchangedSpot = card.parentElement === cell && cardsIn(cell).indexOf(card) === index;
  if (!("status" in patch) && !("discipline" in patch) && unchangedSpot) return;
  const newPosition = positionBetween(prev, next, task.position);
  if (newPosition !== task.position) patch.position = newPosition;
  if (Object.keys(patch).length === 0) return;
  if (RULES.reason_required.includes(patch.status)) {
    const reason = await askReason(task);
    if (reason === null) {
      announce(`${quote(task.title)} was not closed.`);
      return;
    }
    patch.status_reason = reason;
  }

  hideAlert();
  clearNotice(card);
  moveElement(card, cell, next);
  card.dataset.position = String(newPosition);
  await sendMove(card, id, patch, task.version, say);
}

// Did the server's task take this change already (a send whose answer was lost)?
function hasChange(task, patch) {
  return Object.entries(patch).every(([key, value]) => JSON.stringify(task[key] ?? null) === JSON.stringify(value));
}

async function sendMove(card, id, patch, version, say) {
  const base = structuredClone(tasks.get(id));
  card.classList.add("is-saving");
  const result = await patchTask(id, patch, version);
  card.classList.remove("is-saving");
  if (result.ok || (result.status === 412 && result.body?.current && hasChange(result.body.current, patch))) {
    pending.delete(id);
    clearNotice(card);
    const saved = result.ok ? result.body : result.body.current;
    applyTask(saved);
    let text = say(saved);
    if ("status" in patch && RULES.undoable.includes(saved.status)) {
      startUndo(saved);
      text += ` You can undo it for ${state.undo_seconds} seconds.`;
    }
    announce(text);
    reloadIfWaiting();
    return;
  }
  if (result.status === 0) {
    keepPending(card, id, patch, version, say);
    return;
  }
  pending.delete(id);
  putBack(id);
  reloadIfWaiting();
  if (result.status === 412 && result.body?.current) {
    clearNotice(card);
    applyTask(result.body.current);
    await showConflict({ host: conflictBanner, base, current: result.body.current, patch, focusAfter: card });
  } else if (result.status === 401) {
    clearNotice(card);
    reportFailure(result);
  } else {
    showNotice(card, failureMessage(result));
  }
}

function putBack(taskId) {
  const card = document.getElementById(`task-${taskId}`);
  const task = tasks.get(taskId);
  if (!card || !task) return;
  fillCard(card, task);
  placeCard(card, task);
  filterCard(card);
  updateCounts();
}

// --- What happened to your move, beside its card --------------------------------------------------

function clearNotice(card) {
  part(card, "notice")?.remove();
}

// A refusal (the server's words) or a move kept as pending, in the card, and said.
function showNotice(card, [title, text], { isPending = false } = {}) {
  clearNotice(card);
  const notice = clone("card-notice-template");
  notice.dataset.kind = isPending ? "pending" : "refused";
  setText(notice, "notice-title", title);
  setText(notice, "notice-text", text);
  notice.querySelector('[data-action="retry-move"]').hidden = !isPending;
  notice.querySelector('[data-action="discard-move"]').hidden = !isPending;
  notice.querySelector('[data-action="dismiss-notice"]').hidden = isPending;
  card.append(notice);
  const task = tasks.get(Number(card.dataset.taskId));
  announce(`${title}: ${quote(task?.title ?? "")}. ${text}`);
}

function keepPending(card, id, patch, version, say) {
  pending.set(id, { patch, version, say, sending: false });
  fillCard(card, { ...tasks.get(id), ...patch });
  const where = L.columns[columnOf(patch.status ?? tasks.get(id).status)];
  showNotice(card, ["Not saved yet", `The server could not be reached. Your move to ${where} is kept here and `
    + "sent again when the connection is back."], { isPending: true });
}

// Send every move kept as pending again (the connection is back, or the user asked).
async function retryPending(only = null) {
  for (const [id, waiting] of [...pending]) {
    if ((only !== null && id !== only) || waiting.sending) continue;
    const card = document.getElementById(`task-${id}`);
    if (!card) {
      pending.delete(id);
      continue;
    }
    waiting.sending = true;
    await sendMove(card, id, waiting.patch, waiting.version, waiting.say);
    waiting.sending = false;
  }
}

function discardPending(card) {
  const id = Number(card.dataset.taskId);
  pending.delete(id);
  clearNotice(card);
  putBack(id);
  const task = tasks.get(id);
  if (task) announce(`Discarded your move: ${quote(task.title)} is back in ${L.columns[columnOf(task.status)]}.`);
  focusMoveToggle(card);
  reloadIfWaiting();
}

// --- A move to Closed: why, and a confirmation ---------------------------------------------------

let reasonAnswer = null;

function askReason(task) {
  return new Promise((resolve) => {
    clearFormErrors(cancelForm);
    cancelForm.reset();
    setText(cancelForm, "task-title", quote(task.title));
    reasonAnswer = resolve;
    cancelDialog.returnFocus = document.activeElement;
    cancelDialog.showModal();
    cancelForm.elements.reason.focus();
  });
}

cancelForm.addEventListener("submit", (e) => {
  e.preventDefault();
  clearFormErrors(cancelForm);
  const reason = cancelForm.elements.reason.value.trim();
  if (!reason) {
    showFormErrors(cancelForm, { status: 422, body: { errors: [{ field: "reason", message: "Say why the task is closed: the team and the record need it." }] } });
    cancelForm.elements.reason.focus();
    announce("Not closed: say why the task is closed.");
    return;
  }
  const resolve = reasonAnswer;
  reasonAnswer = null;
  cancelDialog.close();
  resolve?.(reason);
});

cancelDialog.addEventListener("close", () => {
  const resolve = reasonAnswer;
  reasonAnswer = null;
  resolve?.(null); // closed without confirming: nothing moves
});

// --- Undo (your own Done or Closed, for a while) and Reopen (a linked follow-up) -------------------

const undoBar = document.getElementById("undo-bar");
const undoList = field(undoBar, "undo-list");

function startUndo(task) {
  clearTimeout(undos.get(task.id)?.timer);
  // Ends a little before the server's window (it started when the server saved the move).
  const timer = setTimeout(() => endUndo(task.id), UNDO_MS * 0.95);
  undos.set(task.id, { status: task.status, timer });
  refreshUndo(task);
}

function endUndo(taskId) {
  clearTimeout(undos.get(taskId)?.timer);
  undos.delete(taskId);
  const task = tasks.get(taskId);
  if (task) refreshUndo(task);
  else document.getElementById(`undo-${taskId}`)?.remove();
}

// The Undo for a task in the bar at the foot of the window (seen whatever the filters hide), while it is
// still in the status you moved it to.
function refreshUndo(task) {
  const undo = undos.get(task.id);
  let item = document.getElementById(`undo-${task.id}`);
  if (undo && undo.status !== task.status) {
    clearTimeout(undo.timer);
    undos.delete(task.id);
  }
  if (!undos.has(task.id)) {
    const hadFocus = item?.contains(document.activeElement);
    item?.remove();
    undoBar.hidden = undoList.children.length === 0;
    if (hadFocus) focusMoveToggle(document.getElementById(`task-${task.id}`) ?? root);
    return;
  }
  if (!item) {
    item = clone("undo-template");
    item.id = `undo-${task.id}`;
    item.dataset.taskId = String(task.id);
    undoList.append(item);
  }
  const column = L.columns[columnOf(task.status)];
  setText(item, "undo-text", `You moved ${quote(task.title)} to ${column}.`);
  setText(item, "undo-what", ` moving ${quote(task.title)} to ${column}`);
  undoBar.hidden = false;
}

async function undoMove(taskId) {
  const task = tasks.get(taskId);
  const card = document.getElementById(`task-${taskId}`);
  if (!task) return;
  const result = await api("POST", `/api/v1/tasks/${taskId}/undo`, { headers: { "If-Match": `W/"${task.version}"` } });
  if (result.ok) {
    endUndo(taskId);
    applyTask(result.body);
    announce(`Undone: ${quote(result.body.title)} is back in ${L.columns[columnOf(result.body.status)]}.`);
    if (card) focusMoveToggle(card);
    return;
  }
  if (result.status === 0) {
    showNotice(card, ["Not undone yet", "The server could not be reached. Try Undo again when the connection is back."]);
    return;
  }
  endUndo(taskId);
  if (result.status === 412 && result.body?.current) applyTask(result.body.current);
  if (card) {
    showNotice(card, failureMessage(result));
    focusMoveToggle(card);
  }
}

const reopenKeys = new Map(); // task id -> Idempotency-Key of a reopen not yet answered (a retry makes one)

async function reopenTask(card) {
  const id = Number(card.dataset.taskId);
  const task = tasks.get(id);
  if (!task) return;
  closeMoveMenus();
  focusMoveToggle(card);
  if (!reopenKeys.has(id)) reopenKeys.set(id, idempotencyKey());
  const result = await api("POST", `/api/v1/tasks/${id}/reopen`, { headers: { "Idempotency-Key": reopenKeys.get(id) } });
  if (!result.ok) {
    showNotice(card, failureMessage(result));
    return;
  }
  reopenKeys.delete(id);
  applyTask(result.body);
  const copy = document.getElementById(`task-${result.body.id}`);
  if (copy) {
    flash(copy);
    copy.scrollIntoView({ block: "nearest", inline: "nearest" });
    focusMoveToggle(copy);
  }
  announce(`Reopened ${quote(task.title)} as a follow-up task in To do, linked to the original.`);
}

// --- Drag and drop -----------------------------------------------------------------------------------
//
// Only the cells this user may move the card to take the drop (its own cell too, to reorder it).

let dragged = null;
const marker = document.createElement("div");
marker.className = "drop-marker";
marker.setAttribute("aria-hidden", "true");

function cardAtPointer(cell, y) {
  // The first card whose middle is below the pointer: the dragged card goes before it.
  return cardsIn(cell, dragged).find((card) => {
    const box = card.getBoundingClientRect();
    return y < box.top + box.height / 2;
  }) ?? null;
}

function mayDropIn(task, cell) {
  const column = cell.dataset.column;
  const columnOk = column === columnOf(task.status) || columnMove(RULES, viewer(), task, column, state.column_of) !== null;
  const laneOk = cell.dataset.discipline === task.discipline || mayChangeLane(RULES, viewer(), task);
  return columnOk && laneOk;
}

function endDrag() {
  dragged?.classList.remove("is-dragging");
  dragged = null;
  marker.remove();
  boardEl.classList.remove("is-dragging");
  for (const cell of boardEl.querySelectorAll(".cell.is-drop-target, .cell.is-drop-allowed")) {
    cell.classList.remove("is-drop-target", "is-drop-allowed");
  }
}

boardEl.addEventListener("dragstart", (e) => {
  const card = e.target instanceof Element ? e.target.closest(".card") : null;
  const task = card ? tasks.get(Number(card.dataset.taskId)) : null;
  if (!card || !task || card.classList.contains("is-saving") || pending.has(task.id)) {
    e.preventDefault();
    return;
  }
  dragged = card;
  e.dataTransfer.effectAllowed = "move";
  e.dataTransfer.setData("text/plain", card.dataset.taskId);
  closeMoveMenus();
  boardEl.classList.add("is-dragging");
  for (const cell of boardEl.querySelectorAll(".cell")) cell.classList.toggle("is-drop-allowed", mayDropIn(task, cell));
  requestAnimationFrame(() => card.classList.add("is-dragging"));
});

boardEl.addEventListener("dragover", (e) => {
  if (!dragged) return;
  const cell = e.target instanceof Element ? e.target.closest(".cell") : null;
  for (const other of boardEl.querySelectorAll(".cell.is-drop-target")) {
    if (other !== cell) other.classList.remove("is-drop-target");
  }
  if (!cell?.classList.contains("is-drop-allowed")) {
    marker.remove();
    return; // not a drop target: the browser shows "no drop"
  }
  e.preventDefault();
  e.dataTransfer.dropEffect = "move";
  cell.classList.add("is-drop-target");
  const before = cardAtPointer(cell, e.clientY);
  if (marker.parentElement !== cell || marker.nextElementSibling !== before) cell.insertBefore(marker, before);
});

boardEl.addEventListener("drop", (e) => {
  if (!dragged) return;
  const cell = e.target instanceof Element ? e.target.closest(".cell") : null;
  if (!cell?.classList.contains("is-drop-allowed")) return;
  e.preventDefault();
  const card = dragged;
  const before = cardAtPointer(cell, e.clientY);
  endDrag();
  moveCard(card, cell, before);
});

boardEl.addEventListener("dragend", endDrag);

// --- The keyboard alternative: the "Move" menu ----------------------------------------------------
//
// The page has one menu (#move-menu), not one per card: opening it on a card moves it into that card,
// right after the card's buttons (so Tab goes from "Move" into it). It shows only the moves this user may
// make: the columns the state machine and the rules allow her, the other lanes, Reopen on a finished task;
// a column the rules keep from her is named with the rule's words. Closed, it goes back, hidden, to where
// the page put it.

function viewer() {
  return { members, me, tasks };
}

function fillMoveMenu(task) {
  const v = viewer();
  const why = field(moveMenu, "move-why");
  why.replaceChildren();
  let offered = 0;
  for (const option of moveMenu.querySelectorAll("[data-move-to]")) {
    const column = option.dataset.moveTo;
    option.hidden = columnMove(RULES, v, task, column, state.column_of) === null;
    if (!option.hidden) offered += 1;
    const refused = columnRefusal(RULES, v, task, column, state.column_of);
    if (refused) {
      const li = document.createElement("li");
      li.textContent = `${L.columns[column]}: ${refused}`;
      why.append(li);
    }
  }
  part(moveMenu, "move-columns-label").hidden = offered === 0;
  why.hidden = why.children.length === 0;
  const lanes = field(moveMenu, "move-lanes");
  lanes.replaceChildren();
  if (mayChangeLane(RULES, v, task)) {
    for (const lane of lanesEl.querySelectorAll(":scope > .lane")) {
      if (lane.dataset.discipline === task.discipline) continue;
      const option = document.createElement("button");
      option.type = "button";
      option.className = "card__move-option";
      option.dataset.moveLane = lane.dataset.discipline;
      option.textContent = L.disciplines[lane.dataset.discipline] ?? lane.dataset.discipline;
      lanes.append(option);
    }
  }
  part(moveMenu, "move-lanes").hidden = lanes.children.length === 0;
  const onTeam = members.some((m) => m.user_id === me);
  moveMenu.querySelector('[data-move="reopen"]').hidden = !(onTeam && RULES.reopenable.includes(task.status) && !undos.has(task.id));
  moveMenu.setAttribute("aria-label", `Move ${quote(task.title)}`);
}

function closeMoveMenus() {
  if (moveMenu.parentElement === moveMenuHome) return;
  moveMenu.closest(".card")?.querySelector('[data-action="move-menu"]')?.setAttribute("aria-expanded", "false");
  moveMenu.hidden = true;
  moveMenuHome.append(moveMenu);
}

function toggleMoveMenu(card) {
  const task = tasks.get(Number(card.dataset.taskId));
  const open = moveMenu.parentElement !== card;
  closeMoveMenus();
  if (!open || !task) return;
  fillMoveMenu(task);
  card.querySelector(".card__actions").after(moveMenu);
  moveMenu.hidden = false;
  card.querySelector('[data-action="move-menu"]').setAttribute("aria-expanded", "true");
  [...moveMenu.querySelectorAll("button")].find((b) => !b.closest("[hidden]"))?.focus();
}

function focusMoveToggle(card) {
  card.querySelector('[data-action="move-menu"]')?.focus();
}

// After a move by keyboard: the focus on the card's Move button, or, if the card left the visible board
// (e.g. Closed while "Show closed" is off), in its lane rather than lost to the page.
function keepFocus(card) {
  if (card.offsetParent !== null) focusMoveToggle(card);
  else card.closest(".lane")?.querySelector('[data-action="add-task"]')?.focus();
}

async function keyboardMove(card, how) {
  const task = tasks.get(Number(card.dataset.taskId));
  if (!task) return;
  const cell = card.parentElement;
  const columnLabel = L.columns[cell.dataset.column];
  closeMoveMenus();
  focusMoveToggle(card);
  if (how === "up" || how === "down") {
    const cards = cardsIn(cell);
    const index = cards.indexOf(card);
    if (how === "up" && index === 0) return announce(`${quote(task.title)} is already at the top of ${columnLabel}.`);
    if (how === "down" && index === cards.length - 1) {
      return announce(`${quote(task.title)} is already at the bottom of ${columnLabel}.`);
    }
    const before = how === "up" ? cards[index - 1] : cards[index + 2] ?? null;
    await moveCard(card, cell, before, (moved) => {
      const now = cardsIn(card.parentElement);
      return `${quote(moved.title)} moved ${how}: ${now.indexOf(card) + 1} of ${now.length} in ${columnLabel}.`;
    });
    focusMoveToggle(card);
    return;
  }
  if (how === columnOf(task.status)) return announce(`${quote(task.title)} is already in ${columnLabel}.`);
  await moveCard(card, cellFor(how, task.discipline), null, (moved) => {
    const hidden = card.offsetParent === null; // e.g. Closed while "Show closed" is off
    return describeMove(moved, columnOf(moved.status)) + (hidden ? " It is hidden by the filters." : "");
  });
  keepFocus(card);
}

// Another lane (discipline), same column, at its bottom.
async function laneMove(card, discipline) {
  const task = tasks.get(Number(card.dataset.taskId));
  if (!task) return;
  closeMoveMenus();
  focusMoveToggle(card);
  const label = L.disciplines[discipline] ?? discipline;
  await moveCard(card, cellFor(columnOf(task.status), discipline), null, (moved) => {
    const hidden = card.offsetParent === null;
    return `${quote(moved.title)} moved to the ${label} lane.` + (hidden ? " It is hidden by the filters." : "");
  });
  keepFocus(card);
}

// --- Conflicts ---------------------------------------------------------------------------------------

function showValue(fieldName, value) {
  switch (fieldName) {
    case "status":
      return `${L.columns[columnOf(value)]} (${statusLabel(value)})`;
    case "assignee_id":
      return value === null || value === undefined ? "Unassigned" : nameOf(value);
    case "due_date":
      return value ? dueLabel(value) : "No due date";
    case "priority":
      return L.priorities[value] ?? value;
    case "discipline":
      return L.disciplines[value] ?? value;
    case "checklist": {
      const items = value ?? [];
      if (items.length === 0) return "No items";
      return `${items.filter((i) => i.done).length}/${items.length} done: ${items.map((i) => (i.done ? "✓ " : "") + i.text).join("; ")}`;
    }
    case "description":
      return value ? (value.length > 160 ? `${value.slice(0, 157)}…` : value) : "(none)";
    case "position":
      return "Their order";
    default:
      return String(value ?? "");
  }
}

async function whoChanged(taskId, version) {
  const seen = lastChange.get(taskId);
  if (seen && seen.version === version) return nameOf(seen.actorId);
  // Not seen live yet: the log says who.
  const result = await api("GET", `/api/v1/plans/${planId}/events?after=${Math.max(0, planStream.lastSeq - 200)}&limit=1000`);
  const items = result.ok ? result.body.items : [];
  const match = items.filter((e) => e.kind.startsWith("task.") && e.data.id === taskId && e.data.version === version).pop();
  return match ? nameOf(match.actor_id) : "someone else";
}

// The comparison: their saved version against your change; nothing is overwritten until you choose.
async function showConflict({ host, base, current, patch, focusAfter, onDone = () => {} }) {
  host.replaceChildren();
  const view = clone("conflict-template");
  setText(view, "who", await whoChanged(current.id, current.version));
  setText(view, "task-title", current.title);
  const theirs = FIELD_ORDER.filter((f) => f !== "position" && JSON.stringify(base[f] ?? null) !== JSON.stringify(current[f] ?? null));
  const mine = Object.keys(patch).filter((f) => f !== "position");
  const rows = [...new Set([...mine, ...theirs])];
  if (rows.length === 0) rows.push("position");
  const tbody = field(view, "rows");
  for (const f of rows) {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = f === "status" ? "Column" : L.fields[f].replace(/^./, (c) => c.toUpperCase());
    const theirCell = document.createElement("td");
    theirCell.textContent = showValue(f, current[f]);
    const myCell = document.createElement("td");
    myCell.textContent = f in patch ? (f === "position" ? "Moved" : showValue(f, patch[f])) : "(not changed by you)";
    if (f in patch) myCell.className = "conflict__mine";
    tr.append(th, theirCell, myCell);
    tbody.append(tr);
  }
  host.append(view);
  host.hidden = false;
  announce(`Not saved: ${quote(current.title)} was changed by someone else. Keep theirs or apply yours again.`);
  view.querySelector('[data-action="keep-theirs"]').focus();

  const finish = () => {
    host.replaceChildren();
    host.hidden = host === conflictBanner;
  };
  view.querySelector('[data-action="keep-theirs"]').addEventListener("click", () => {
    applyTask(tasks.get(current.id) ?? current);
    finish();
    announce(`Kept their version of ${quote(current.title)}.`);
    onDone("theirs");
    if (focusAfter?.isConnected) focusMoveToggle(focusAfter);
  });
  view.querySelector('[data-action="apply-mine"]').addEventListener("click", async () => {
    const latest = tasks.get(current.id) ?? current;
    const result = await patchTask(current.id, patch, latest.version);
    if (result.ok) {
      applyTask(result.body);
      finish();
      announce(`Your change to ${quote(result.body.title)} is saved.`);
      onDone("mine");
      if (focusAfter?.isConnected) focusMoveToggle(focusAfter);
    } else if (result.status === 412 && result.body?.current) {
      applyTask(result.body.current);
      await showConflict({ host, base: latest, current: result.body.current, patch, focusAfter, onDone });
    } else {
      finish();
      putBack(current.id);
      if (host === conflictBanner) reportFailure(result);
      onDone("failed", result);
    }
  });
}

// --- Dialogs: edit a task, add a task ---------------------------------------------------------------

function clearFormErrors(form) {
  for (const el of form.querySelectorAll("[data-error-for]")) {
    el.hidden = true;
    el.textContent = "";
  }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const error = field(form, "form-error");
  error.hidden = true;
  error.textContent = "";
}

function showFormErrors(form, result) {
  const errors = result.body?.errors ?? [];
  let placed = false;
  for (const err of errors) {
    const path = String(err.field ?? "").split(".");
    const name = path.find((p) => form.querySelector(`[data-error-for="${p}"]`));
    if (!name) continue;
    const el = form.querySelector(`[data-error-for="${name}"]`);
    el.textContent = err.message;
    el.hidden = false;
    form.elements[name]?.setAttribute?.("aria-invalid", "true");
    placed = true;
  }
  if (!placed) {
    const [title, text] = failureMessage(result);
    const error = field(form, "form-error");
    error.textContent = `${title}: ${text}`;
    error.hidden = false;
  }
}

function checklistRow(item) {
  const row = clone("checklist-row-template");
  field(row, "done").checked = item.done;
  field(row, "text").value = item.text;
  return row;
}

function readChecklist() {
  return [...field(taskForm, "checklist").children]
    .map((row) => ({ text: field(row, "text").value.trim(), done: field(row, "done").checked }))
    .filter((item) => item.text);
}

function openEditor(card) {
  const task = tasks.get(Number(card.dataset.taskId));
  if (!task) return;
  closeMoveMenus();
  clearFormErrors(taskForm);
  const f = taskForm.elements;
  taskDialog.dataset.taskId = String(task.id);
  taskDialog.base = structuredClone(task);
  f.title.value = task.title;
  f.description.value = task.description;
  f.discipline.value = task.discipline;
  fillMemberSelect(f.assignee_id, task.assignee_id);
  f.priority.value = task.priority;
  f.due_date.value = task.due_date ?? "";
  field(taskForm, "checklist").replaceChildren(...task.checklist.map(checklistRow));
  f.link.value = task.link ?? "";
  fillGatesEditor(task);
  field(taskForm, "changed-notice").hidden = true;
  field(taskForm, "conflict-slot").replaceChildren();
  taskDialog.returnFocus = card.querySelector('[data-action="edit"]');
  taskDialog.showModal();
  f.title.focus();
  taskDialogEvent(task.id, true);
}

// For what other features put in the dialog's slot (data-slot="task-extra"): which task is open, and when not.
function taskDialogEvent(taskId, open) {
  document.dispatchEvent(new CustomEvent("careteam:task-dialog", { detail: { task_id: taskId, open } }));
}

function editorPatch() {
  const base = taskDialog.base;
  const f = taskForm.elements;
  const wanted = {
    title: f.title.value.trim(),
    description: f.description.value,
    discipline: f.discipline.value,
    assignee_id: f.assignee_id.value ? Number(f.assignee_id.value) : null,
    priority: f.priority.value,
    due_date: f.due_date.value || null,
    checklist: readChecklist(),
    link: f.link.value.trim() || null,
  };
  const patch = {};
  for (const [key, value] of Object.entries(wanted)) {
    if (JSON.stringify(value) !== JSON.stringify(base[key] ?? null)) patch[key] = value;
  }
  return patch;
}

taskForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  clearFormErrors(taskForm);
  const base = taskDialog.base;
  const patch = editorPatch();
  if (Object.keys(patch).length === 0) {
    taskDialog.close();
    return;
  }
  if ("title" in patch && !patch.title) {
    showFormErrors(taskForm, { status: 422, body: { errors: [{ field: "title", message: "Enter a title." }] } });
    taskForm.elements.title.focus();
    return;
  }
  const save = taskForm.querySelector('button[type="submit"]');
  save.disabled = true;
  const result = await patchTask(base.id, patch, base.version);
  save.disabled = false;
  if (result.ok) {
    applyTask(result.body);
    taskDialog.close();
    announce(`Saved ${quote(result.body.title)}.`);
    return;
  }
  if (result.status === 412 && result.body?.current) {
    applyTask(result.body.current);
    const slot = field(taskForm, "conflict-slot");
    await showConflict({
      host: slot, base, current: result.body.current, patch,
      onDone: (outcome, failed) => {
        if (outcome === "failed") showFormErrors(taskForm, failed);
        else taskDialog.close();
      },
    });
    return;
  }
  showFormErrors(taskForm, result);
});

taskForm.addEventListener("click", (e) => {
  const action = e.target instanceof Element ? e.target.closest("[data-action]")?.dataset.action : null;
  if (action === "add-item") {
    const input = taskForm.querySelector("#edit-new-item");
    const text = input.value.trim();
    if (!text) return input.focus();
    field(taskForm, "checklist").append(checklistRow({ text, done: false }));
    input.value = "";
    input.focus();
  } else if (action === "remove-item") {
    e.target.closest(".checklist-row")?.remove();
    taskForm.querySelector("#edit-new-item").focus();
  }
});

// The dialog's gates: each with its status (and link), a Remove button; a select of the plan's other tasks.
function fillGatesEditor(task) {
  if (!task) return;
  const list = field(taskForm, "gates-list");
  list.replaceChildren();
  for (const id of task.gates ?? []) {
    const gate = tasks.get(id);
    const title = gate?.title ?? `Task ${id}`;
    const li = document.createElement("li");
    li.className = "gates__item";
    li.dataset.gateId = String(id);
    const name = document.createElement("span");
    name.className = "gates__title";
    name.textContent = title;
    const status = document.createElement("span");
    const done = gate?.status === RULES.gate_passed;
    status.className = `gates__status${done ? " is-done" : ""}`;
    status.textContent = gate ? statusLabel(gate.status) : "";
    li.append(name, " ", status);
    if (gate?.link) {
      const a = document.createElement("a");
      a.href = gate.link;
      a.rel = "noopener noreferrer";
      a.textContent = "Open link";
      a.append(Object.assign(document.createElement("span"), { className: "visually-hidden", textContent: ` for ${quote(title)}` }));
      li.append(" ", a);
    }
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "button button--quiet button--small";
    remove.dataset.action = "remove-gate";
    remove.dataset.gateId = String(id);
    remove.textContent = "Remove";
    remove.append(Object.assign(document.createElement("span"), { className: "visually-hidden", textContent: ` gate ${quote(title)}` }));
    li.append(" ", remove);
    list.append(li);
  }
  field(taskForm, "gates-none").hidden = (task.gates ?? []).length > 0;
  const select = taskForm.elements.new_gate;
  const keep = select.value;
  select.replaceChildren(new Option("Choose a task", ""));
  for (const t of [...tasks.values()].sort((a, b) => a.title.localeCompare(b.title))) {
    if (t.id === task.id || (task.gates ?? []).includes(t.id)) continue;
    select.add(new Option(`${t.title} (${L.disciplines[t.discipline] ?? t.discipline}, ${statusLabel(t.status)})`, String(t.id)));
  }
  if ([...select.options].some((o) => o.value === keep)) select.value = keep;
}

async function saveGates(gateIds) {
  const id = Number(taskDialog.dataset.taskId);
  const task = tasks.get(id);
  if (!task) return false;
  for (const el of taskForm.querySelectorAll('[data-error-for="gate_task_ids"]')) el.hidden = true;
  const result = await api("PUT", `/api/v1/tasks/${id}/gates`, {
    body: { gate_task_ids: gateIds },
    headers: { "If-Match": `W/"${task.version}"` },
  });
  if (result.ok) {
    applyTask(result.body);
    taskDialog.base = { ...taskDialog.base, version: result.body.version, gates: result.body.gates };
    fillGatesEditor(result.body);
    announce(`Gates of ${quote(result.body.title)}: ${result.body.gates.length}.`);
    return true;
  }
  if (result.status === 412 && result.body?.current) applyTask(result.body.current);
  const error = taskForm.querySelector('[data-error-for="gate_task_ids"]');
  error.textContent = result.body?.detail ?? failureMessage(result)[1];
  error.hidden = false;
  return false;
}

taskForm.addEventListener("click", async (e) => {
  const button = e.target instanceof Element ? e.target.closest("[data-action]") : null;
  const action = button?.dataset.action;
  const task = tasks.get(Number(taskDialog.dataset.taskId));
  if (!task || (action !== "add-gate" && action !== "remove-gate")) return;
  const select = taskForm.elements.new_gate;
  if (action === "add-gate") {
    if (!select.value) return select.focus();
    const added = Number(select.value);
    if (await saveGates([...(task.gates ?? []), added])) select.value = "";
    select.focus();
  } else {
    const gone = Number(button.dataset.gateId);
    await saveGates((task.gates ?? []).filter((g) => g !== gone));
    select.focus();
  }
});

taskForm.querySelector("#edit-new-item").addEventListener("keydown", (e) => {
  if (e.key === "Enter") {
    e.preventDefault();
    taskForm.querySelector('[data-action="add-item"]').click();
  }
});

let addKey = idempotencyKey();

function openAdder(discipline) {
  clearFormErrors(addForm);
  const f = addForm.elements;
  const lanes = [...lanesEl.querySelectorAll(":scope > .lane")].map((l) => l.dataset.discipline);
  const mine = members.find((m) => m.user_id === me)?.discipline;
  f.discipline.value = discipline || filters().discipline || (mine && lanes.includes(mine) ? mine : lanes[0] ?? mine ?? f.discipline.value);
  fillMemberSelect(f.assignee_id, null);
  addDialog.returnFocus = document.activeElement;
  addDialog.showModal();
  f.title.focus();
}

addForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  clearFormErrors(addForm);
  const f = addForm.elements;
  const body = {
    title: f.title.value.trim(),
    discipline: f.discipline.value,
    priority: f.priority.value,
    assignee_id: f.assignee_id.value ? Number(f.assignee_id.value) : null,
    due_date: f.due_date.value || null,
  };
  if (!body.title) {
    showFormErrors(addForm, { status: 422, body: { errors: [{ field: "title", message: "Enter a title." }] } });
    f.title.focus();
    return;
  }
  const add = addForm.querySelector('button[type="submit"]');
  add.disabled = true;
  const result = await api("POST", `/api/v1/plans/${planId}/tasks`, { body, headers: { "Idempotency-Key": addKey } });
  add.disabled = false;
  if (!result.ok) {
    showFormErrors(addForm, result);
    return;
  }
  addKey = idempotencyKey();
  applyTask(result.body);
  addForm.reset();
  addDialog.close();
  const card = document.getElementById(`task-${result.body.id}`);
  if (card) {
    flash(card);
    card.scrollIntoView({ block: "nearest", inline: "nearest" });
  }
  announce(`Added ${quote(result.body.title)} to ${L.disciplines[result.body.discipline]}.`);
});

for (const dialog of [taskDialog, addDialog, cancelDialog]) {
  dialog.addEventListener("click", (e) => {
    const target = e.target instanceof Element ? e.target : null;
    if (target?.closest('[data-action="close-dialog"]')) dialog.close();
  });
  dialog.addEventListener("close", () => {
    if (dialog === taskDialog) taskDialogEvent(Number(taskDialog.dataset.taskId), false);
    if (dialog.returnFocus?.isConnected) dialog.returnFocus.focus();
    reloadIfWaiting();
  });
}

// --- Clicks on the board -----------------------------------------------------------------------------

root.addEventListener("click", (e) => {
  const target = e.target instanceof Element ? e.target : null;
  if (!target) return;
  const actionEl = target.closest("[data-action], [data-move-to], [data-move], [data-move-lane]");
  const card = target.closest(".card");
  if (actionEl?.dataset.moveTo && card) {
    keyboardMove(card, actionEl.dataset.moveTo);
    return;
  }
  if (actionEl?.dataset.moveLane && card) {
    laneMove(card, actionEl.dataset.moveLane);
    return;
  }
  if (actionEl?.dataset.move && card) {
    if (actionEl.dataset.move === "close") {
      closeMoveMenus();
      focusMoveToggle(card);
    } else if (actionEl.dataset.move === "reopen") {
      reopenTask(card);
    } else {
      keyboardMove(card, actionEl.dataset.move);
    }
    return;
  }
  switch (actionEl?.dataset.action) {
    case "edit":
      if (card) openEditor(card);
      return;
    case "move-menu":
      if (card) toggleMoveMenu(card);
      return;
    case "add-task":
      openAdder(actionEl.dataset.discipline);
      return;
    case "dismiss-alert":
      hideAlert();
      return;
    case "undo":
      undoMove(Number(actionEl.closest("[data-task-id]")?.dataset.taskId));
      return;
    case "retry-move":
      if (card) retryPending(Number(card.dataset.taskId));
      return;
    case "discard-move":
      if (card) discardPending(card);
      return;
    case "dismiss-notice":
      if (card) {
        clearNotice(card);
        focusMoveToggle(card);
      }
      return;
    default:
      break;
  }
  // A click on the body of a card (not on its buttons) opens it, as on any task board.
  if (card && !target.closest('button, a, input, select, textarea, [data-part="notice"]') && !card.classList.contains("is-saving")) {
    openEditor(card);
  } else if (!target.closest('[data-part="move-menu"]')) {
    closeMoveMenus();
  }
});

root.addEventListener("keydown", (e) => {
  if (e.key !== "Escape") return;
  const menu = e.target instanceof Element ? e.target.closest('[data-part="move-menu"]') : null;
  if (menu) {
    e.preventDefault();
    const card = menu.closest(".card");
    closeMoveMenus();
    focusMoveToggle(card);
  }
});

// --- Start -------------------------------------------------------------------------------------------

for (const when of document.querySelectorAll("#activity-list time[datetime]")) {
  when.title = when.textContent;
  when.textContent = formatWhen(when.dateTime);
}
for (const button of root.querySelectorAll('[data-action="add-task"]')) button.disabled = false;
// Overdue is judged against the viewer's own calendar day.
for (const card of lanesEl.querySelectorAll(".card")) {
  const task = tasks.get(Number(card.dataset.taskId));
  if (task) fillCard(card, task);
}
applyFilters();
root.dataset.ready = "true";
live.start();
