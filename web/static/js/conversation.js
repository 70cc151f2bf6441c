// One conversation (/messages/<id>): follows its stream "conversation:<id>" on the page's one live connection
// (live.js sharedLive) and applies its events; sends new messages, edits and removals of her own through the
// JSON API; marks the conversation read while she looks at it; shows who has seen the newest message.
// An ES module, no build step. The DOM is built with textContent; only a message's `html` (the server's
// sanitised rendering) goes in as HTML.
//
// Events (careteam/conversations/codes.py): conversation.message.created / edited / deleted (data: the
// message), conversation.read (data: conversation_id, user_id, up_to).

import { api, idempotencyKey } from "./api.js";
import { sharedLive } from "./live.js";

const chat = document.getElementById("chat");
const conversationId = Number(chat.dataset.conversationId);
const me = Number(chat.dataset.userId);
const paged = chat.dataset.paged === "true"; // an older page: new messages are not appended here
const list = document.getElementById("chat-messages");
const template = document.getElementById("message-template");
const seenBy = document.getElementById("seen-by");
const composer = document.getElementById("composer");
const textarea = document.getElementById("composer-body");
const composerError = document.getElementById("composer-error");
const participants = new Map(
  JSON.parse(document.getElementById("participants-state").textContent).map((p) => [p.id, p]),
);

const TIME = new Intl.DateTimeFormat("en-GB", {
  day: "numeric",
  month: "short",
  hour: "2-digit",
  minute: "2-digit",
  timeZone: "UTC",
  timeZoneName: "short",
});

function newestId() {
  const last = list.lastElementChild;
  return last ? Number(last.dataset.id) : 0;
}

// "Seen by": the others whose position reaches the newest message.
function showSeen() {
  const newest = newestId();
  const names = [...participants.values()]
    .filter((p) => p.id !== me && newest > 0 && p.last_read_id >= newest)
    .map((p) => p.display_name);
  seenBy.querySelector('[data-field="names"]').textContent = names.join(", ");
  seenBy.hidden = names.length === 0;
}

function fill(item, message) {
  item.id = `message-${message.id}`;
  item.dataset.id = String(message.id);
  item.dataset.version = String(message.version);
  item.dataset.author = String(message.author.id);
  item.classList.toggle("chat-message--mine", message.author.id === me);
  item.classList.toggle("is-removed", message.deleted);
  item.querySelector('[data-field="author"]').textContent = message.author.display_name;
  const time = item.querySelector('[data-field="time"]');
  time.dateTime = message.created_at;
  time.textContent = TIME.format(new Date(message.created_at));
  item.querySelector('[data-field="edited"]').hidden = !message.edited_at || message.deleted;
  const body = item.querySelector('[data-field="body"]');
  if (message.deleted) {
    const removed = document.createElement("p");
    removed.className = "muted";
    removed.textContent = "Message removed";
    body.replaceChildren(removed);
  } else {
    body.innerHTML = message.html; // the server's sanitised rendering (nh3), never the raw body
  }
  body.dataset.markdown = message.deleted ? "" : message.body;
  addActions(item);
}

function upsert(message) {
  const existing = document.getElementById(`message-${message.id}`);
  if (existing) {
    if (Number(existing.dataset.version) <= message.version) fill(existing, message);
    return;
  }
  if (paged) return;
  const item = template.content.firstElementChild.cloneNode(true);
  fill(item, message);
  list.append(item);
}

// --- Her own messages: edit and remove -----------------------------------------------------------

function addActions(item) {
  item.querySelector(".chat-message__actions")?.remove();
  if (Number(item.dataset.author) !== me || item.classList.contains("is-removed")) return;
  const actions = document.createElement("p");
  actions.className = "chat-message__actions";
  const edit = document.createElement("button");
  edit.type = "button";
  edit.className = "button button--small button--quiet";
  edit.textContent = "Edit";
  edit.addEventListener("click", () => startEdit(item));
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "button button--small button--quiet";
  remove.textContent = "Remove";
  remove.addEventListener("click", () => removeMessage(item));
  actions.append(edit, " ", remove);
  item.append(actions);
}

function startEdit(item) {
  if (item.querySelector("form")) return;
  const body = item.querySelector('[data-field="body"]');
  const form = document.createElement("form");
  form.className = "chat-edit";
  const label = document.createElement("label");
  label.className = "visually-hidden";
  label.htmlFor = `edit-${item.dataset.id}`;
  label.textContent = "Edit your message";
  const area = document.createElement("textarea");
  area.id = `edit-${item.dataset.id}`;
  area.rows = 3;
  area.value = body.dataset.markdown ?? body.textContent;
  const save = document.createElement("button");
  save.type = "submit";
  save.className = "button button--small";
  save.textContent = "Save";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "button button--small button--quiet";
  cancel.textContent = "Cancel";
  cancel.addEventListener("click", () => form.remove());
  const error = document.createElement("p");
  error.className = "field__error";
  error.setAttribute("role", "alert");
  error.hidden = true;
  form.append(label, area, save, " ", cancel, error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await api("PATCH", `/api/v1/conversation-messages/${item.dataset.id}`, {
      body: { body: area.value },
      headers: { "If-Match": `W/"${item.dataset.version}"` },
    });
    if (answer.ok) {
      form.remove();
      upsert(answer.body);
    } else {
      error.textContent = answer.body?.detail ?? "Not saved. Reload the page and try again.";
      error.hidden = false;
    }
  });
  item.append(form);
  area.focus();
}

async function removeMessage(item) {
  if (!window.confirm("Remove this message? The conversation will show it as removed.")) return;
  const answer = await api("DELETE", `/api/v1/conversation-messages/${item.dataset.id}`, {
    headers: { "If-Match": `W/"${item.dataset.version}"` },
  });
  if (answer.ok) upsert(answer.body);
}

// --- Reading -------------------------------------------------------------------------------------

let reading = false;
let readAgain = false;

// Opening the conversation, and each message arriving while she looks at it, marks it read; one request at
// a time.
async function markRead() {
  if (paged || document.visibilityState !== "visible") return;
  if (reading) {
    readAgain = true;
    return;
  }
  reading = true;
  try {
    do {
      readAgain = false;
      const answer = await api("POST", `/api/v1/conversations/${conversationId}/read`, { body: {} });
      if (answer.ok) {
        const mine = participants.get(me);
        if (mine) mine.last_read_id = Math.max(mine.last_read_id, answer.body.last_read_id);
      }
    } while (readAgain);
  } finally {
    reading = false;
  }
}

// --- Sending -------------------------------------------------------------------------------------

let pendingKey = null; // kept until the POST succeeds, so a retry is not a second message

composer.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = textarea.value;
  if (!text.trim()) {
    composerError.textContent = "Write a message first.";
    composerError.hidden = false;
    return;
  }
  pendingKey ??= idempotencyKey();
  const answer = await api("POST", `/api/v1/conversations/${conversationId}/messages`, {
    body: { body: text },
    headers: { "Idempotency-Key": pendingKey },
  });
  if (answer.ok) {
    pendingKey = null;
    textarea.value = "";
    composerError.hidden = true;
    upsert(answer.body);
    showSeen();
  } else {
    composerError.textContent = answer.body?.detail ?? "Not sent: the server could not be reached. Try again.";
    composerError.hidden = false;
  }
});

// --- Live ----------------------------------------------------------------------------------------

function onEvent(event) {
  const data = event.data;
  if (event.kind === "conversation.read") {
    const who = participants.get(data.user_id);
    if (who) who.last_read_id = Math.max(who.last_read_id, data.up_to);
    showSeen();
    chat.dataset.seenAt = String(event.seq);
    return;
  }
  if (event.kind.startsWith("conversation.message.")) {
    upsert(data);
    if (event.kind === "conversation.message.created") {
      if (data.author.id !== me) markRead();
      const author = participants.get(data.author.id);
      if (author) author.last_read_id = Math.max(author.last_read_id, data.id);
    }
    showSeen();
  }
}

for (const item of list.children) addActions(item);
const live = sharedLive();
live.subscribe(`conversation:${conversationId}`, {
  after: Number(chat.dataset.seq),
  onEvent,
  onResync: () => location.reload(),
  onError(frame) {
    // No longer readable (taken off the patient's care team): the page, reloaded, says so.
    if (frame.code === "forbidden" || frame.code === "not_found") location.reload();
  },
});
live.onState((state) => {
  chat.dataset.state = state;
});
live.start();
markRead();
document.addEventListener("visibilitychange", markRead);
