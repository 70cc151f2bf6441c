// The Medications panel, live. An ES module, no build step. The panel is drawn on the server
// (careteam/medications/pages.py); this fetches its live part again when the plan's stream says a
// medication changed, a safety message was acknowledged, or the care team changed:
// - on a board, from board.js's `careteam:plan-event` DOM events;
// - on the plan's medications page, from its own subscription to `plan:<id>`.
// A card whose Change form is open keeps its element (and what is typed in it) unless its version moved.
import { sharedLive } from "./live.js";

const panel = document.getElementById("medications");
const part = document.getElementById("medications-part");
const announcer = document.getElementById("medications-announcer");
const matters = (kind) =>
  typeof kind === "string" &&
  (kind.startsWith("medication.") || kind === "message.acknowledged" || kind === "team.updated");

let generation = 0;
async function refresh() {
  const mine = ++generation;
  const answer = await fetch(`/plans/${panel.dataset.planId}/medications/part`, {
    headers: { Accept: "text/html" },
    credentials: "same-origin",
  });
  if (!answer.ok || mine !== generation) return;
  const fresh = document.createElement("div");
  fresh.innerHTML = await answer.text();
  if (mine !== generation) return;
  for (const open of part.querySelectorAll("li.medication")) {
    const details = open.querySelector("details[open]");
    const next = fresh.querySelector(`#${open.id}`);
    if (details && next && next.dataset.version === open.dataset.version) next.replaceWith(open);
  }
  part.replaceChildren(...fresh.childNodes);
}

function heard(event) {
  if (!matters(event.kind)) return;
  const d = event.data ?? {};
  if (event.kind === "medication.added") announcer.textContent = `${d.code?.display ?? "A medication"} added`;
  else if (event.kind === "medication.changed") announcer.textContent = `${d.code?.display ?? "A medication"} changed`;
  refresh();
}

if (panel && part) {
  const page = document.getElementById("medications-page");
  if (page) {
    const live = sharedLive();
    live.subscribe(`plan:${page.dataset.planId}`, {
      after: Number(page.dataset.lastSeq),
      onEvent: heard,
      onResync: () => refresh(),
    });
    live.start();
  } else {
    document.addEventListener("careteam:plan-event", ({ detail }) => heard(detail));
  }
}
