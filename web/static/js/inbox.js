// The header's inbox on every signed-in page: follows the clinician's own stream "user:<id>" on the page's one
// live connection (live.js sharedLive) and keeps the unread badge current. An ES module, no build step.
//
// Every event of that stream is also handed on as a DOM event, so a page (the notifications list, "My work")
// follows it without a second subscription:
//
//   document.addEventListener("careteam:inbox", ({ detail: event }) => { event.kind, event.data, ... });
//   document.addEventListener("careteam:inbox-resync", () => location.reload());
//
// Kinds (careteam/notifications/codes.py InboxEvent): notification.created (data: the notification and
// "unread"), notification.read (data: "ids" or "all", and "unread"), work.changed (data: plan_id, reason);
// messages.unread / messages.read (a plan's thread: someone wrote, she read) and conversation.unread /
// conversation.read (a conversation), after which the Messages badge asks for its count again.

import { api } from "./api.js";
import { sharedLive } from "./live.js";

const userId = Number(document.body.dataset.userId);
const badge = document.getElementById("unread-badge");
const workBadge = document.getElementById("work-badge");

function showUnread(count) {
  if (!badge || !Number.isInteger(count) || count < 0) return;
  badge.querySelector(".nav-badge__count").textContent = String(count);
  badge.classList.toggle("nav-badge--zero", count === 0);
}

// "My work"'s badge: what is overdue or due today. Asked for once on load and again whenever her worklist
// may have changed; one request at a time, and one more if a change came in during it.
let asking = false;
let askAgain = false;

async function showDue() {
  if (!workBadge) return;
  if (asking) {
    askAgain = true;
    return;
  }
  asking = true;
  try {
    do {
      askAgain = false;
      const answer = await api("GET", "/api/v1/me/work/due");
      if (answer.ok && answer.body) {
        const due = answer.body.overdue + answer.body.today;
        workBadge.querySelector(".nav-badge__count").textContent = String(due);
        workBadge.classList.toggle("nav-badge--zero", due === 0);
        workBadge.dataset.overdue = String(answer.body.overdue);
      }
    } while (askAgain);
  } finally {
    asking = false;
  }
}

// The Messages badge: unread messages in her plans' threads and her conversations
// (GET /api/v1/me/messages/unread), asked for on load and whenever her stream says a message arrived or she
// read some; one request at a time, as for "My work".
const messagesBadge = document.getElementById("messages-badge");
const MESSAGE_KINDS = new Set(["messages.unread", "messages.read", "conversation.unread", "conversation.read"]);
let askingMessages = false;
let askMessagesAgain = false;

async function showMessages() {
  if (!messagesBadge) return;
  if (askingMessages) {
    askMessagesAgain = true;
    return;
  }
  askingMessages = true;
  try {
    do {
      askMessagesAgain = false;
      const answer = await api("GET", "/api/v1/me/messages/unread");
      if (answer.ok && answer.body) {
        const total = answer.body.total;
        messagesBadge.querySelector(".nav-badge__count").textContent = String(total);
        messagesBadge.classList.toggle("nav-badge--zero", total === 0);
      }
    } while (askMessagesAgain);
  } finally {
    askingMessages = false;
  }
}

// The log no longer reaches back to what this page saw: ask for the count, and follow the stream from now.
async function resync() {
  const answer = await api("GET", "/api/v1/me/notifications?unread=true&limit=1");
  if (answer.ok) showUnread(answer.body.unread);
  follow(null);
  showDue();
  showMessages();
  document.dispatchEvent(new CustomEvent("careteam:inbox-resync"));
}

function follow(after) {
  live.subscribe(`user:${userId}`, {
    after,
    onEvent(event) {
      if (event.data && "unread" in event.data) showUnread(event.data.unread);
      if (event.kind === "work.changed" || event.kind === "notification.created") showDue();
      if (MESSAGE_KINDS.has(event.kind)) showMessages();
      document.dispatchEvent(new CustomEvent("careteam:inbox", { detail: event }));
    },
    onResync: resync,
    onSnapshot() {}, // a user stream has no snapshot; its `subscribed` carries the seq to resume from
  });
}

const live = sharedLive();
// The badge says whether it is live ("live" once the page's streams are subscribed), for assistive styling
// and for tests that must not act before the inbox listens.
live.onState((state) => {
  if (badge) badge.dataset.state = state;
  // Subscribed (again): from here every change arrives as an event, so one count now misses nothing.
  if (state === "live") {
    showDue();
    showMessages();
  }
});
if (Number.isInteger(userId) && userId > 0) {
  // A page that rendered the inbox says from which seq (data-inbox-seq); others follow from now on.
  const rendered = document.querySelector("[data-inbox-seq]")?.dataset.inboxSeq;
  follow(rendered === undefined ? null : Number(rendered));
  live.start();
}
