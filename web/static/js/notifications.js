// The notifications page: a notification that arrives while the page is open appears at the top, and ones
// marked read elsewhere (another tab) stop standing out. Follows the user's stream through inbox.js's
// `careteam:inbox` events (one subscription per page). Text goes in with textContent, never as HTML.

import "./inbox.js";

const list = document.getElementById("inbox");
const empty = document.getElementById("inbox-empty");
const summary = document.getElementById("inbox-summary");
const announcer = document.getElementById("inbox-announcer");
const template = document.getElementById("notification-template");
const onFirstPage = list.dataset.page === "1";

// Only links within this site: a notification's link is site-relative ("/plans/4#task-17").
function safeLink(link) {
  return typeof link === "string" && link.startsWith("/") && !link.startsWith("//") ? link : "";
}

function showSummary(unread) {
  if (!Number.isInteger(unread)) return;
  summary.textContent = `${unread ? `${unread} unread` : "Nothing unread"}. Newest first; new ones appear here as they come in.`;
}

function markShownRead(ids) {
  for (const item of list.querySelectorAll(".inbox__item.is-unread")) {
    const id = Number(item.id.replace("notification-", ""));
    if (ids !== null && !ids.includes(id)) continue;
    item.classList.remove("is-unread");
    item.querySelector(".badge--unread")?.remove();
    item.querySelector(".inbox__read")?.remove();
  }
}

function addNotification(n) {
  if (!onFirstPage || document.getElementById(`notification-${n.id}`)) return;
  const item = template.content.firstElementChild.cloneNode(true);
  item.id = `notification-${n.id}`;
  const title = item.querySelector(".inbox__title");
  const link = safeLink(n.link);
  if (link) {
    title.href = link;
  } else {
    const plain = document.createElement("span");
    plain.className = "inbox__title";
    title.replaceWith(plain);
  }
  item.querySelector(".inbox__title").textContent = n.title;
  item.querySelector(".inbox__body").textContent = n.body ?? "";
  const when = item.querySelector("time");
  when.dateTime = n.created_at;
  when.textContent = new Date(n.created_at).toISOString().slice(0, 16).replace("T", " ") + " UTC";
  item.querySelector('input[name="id"]').value = String(n.id);
  item.querySelector(".inbox__read .visually-hidden").textContent = `: ${n.title}`;
  list.prepend(item);
  empty.hidden = true;
  announcer.textContent = `New notification: ${n.title}`;
}

document.addEventListener("careteam:inbox", ({ detail: event }) => {
  switch (event.kind) {
    case "notification.created":
      addNotification(event.data);
      showSummary(event.data.unread);
      return;
    case "notification.read":
      markShownRead(event.data.all ? null : event.data.ids ?? []);
      showSummary(event.data.unread);
      return;
    default:
      return;
  }
});

document.addEventListener("careteam:inbox-resync", () => location.reload());
