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
// "unread"), notification.read (data: "ids" or "all", and "unread"), work.changed (data: plan_id, reason).

import { api } from "./api.js";
import { sharedLive } from "./live.js";

const userId = Number(document.body.dataset.userId);
const badge = document.getElementById("unread-badge");

function showUnread(count) {
  if (!badge || !Number.isInteger(count) || count < 0) return;
  badge.querySelector(".nav-badge__count").textContent = String(count);
  badge.classList.toggle("nav-badge--zero", count === 0);
}

// The log no longer reaches back to what this page saw: ask for the count, and follow the stream from now.
async function resync() {
  const answer = await api("GET", "/api/v1/me/notifications?unread=true&limit=1");
  if (answer.ok) showUnread(answer.body.unread);
  follow(null);
  document.dispatchEvent(new CustomEvent("careteam:inbox-resync"));
}

function follow(after) {
  live.subscribe(`user:${userId}`, {
    after,
    onEvent(event) {
      if (event.data && "unread" in event.data) showUnread(event.data.unread);
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
});
if (Number.isInteger(userId) && userId > 0) {
  // A page that rendered the inbox says from which seq (data-inbox-seq); others follow from now on.
  const rendered = document.querySelector("[data-inbox-seq]")?.dataset.inboxSeq;
  follow(rendered === undefined ? null : Number(rendered));
  live.start();
}
