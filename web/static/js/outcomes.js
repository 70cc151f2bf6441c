// Outcome measures, live. An ES module, no build step. The drawings are made on the server
// (careteam/outcomes/charts.py); this only fetches the part again when a score changes on the plan's stream:
// - on a board, the header's sparklines, from board.js's `careteam:plan-event` DOM events;
// - on a plan's outcomes page, its charts and tables, from its own subscription to `plan:<id>`.
import { sharedLive, State } from "./live.js";

const announcer = document.getElementById("outcomes-announcer");
const isScore = (event) => typeof event.kind === "string" && event.kind.startsWith("measure.");

function say(event) {
  const d = event.data ?? {};
  const what = `${d.code?.display ?? "A score"} ${d.value}${d.unit ?? ""}`;
  announcer.textContent = event.kind === "measure.recorded" ? `${what} recorded` : `${what} withdrawn as entered in error`;
}

// Put a server-rendered part back; a later change wins over an earlier fetch still on its way.
function refresher(target, url) {
  let generation = 0;
  return async () => {
    const mine = ++generation;
    const answer = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (answer.ok && mine === generation) {
      const html = await answer.text();
      if (mine === generation) target.innerHTML = html;
    }
  };
}

const sparks = document.getElementById("outcome-sparks");
if (sparks) {
  const refresh = refresher(sparks, `/plans/${sparks.dataset.planId}/outcomes/sparklines`);
  document.addEventListener("careteam:plan-event", ({ detail: event }) => {
    if (!isScore(event)) return;
    say(event);
    refresh();
  });
}

const page = document.getElementById("outcomes-page");
if (page) {
  const planId = page.dataset.planId;
  const refresh = refresher(document.getElementById("outcome-charts"), `/plans/${planId}/outcomes/charts`);
  const liveStatus = document.getElementById("live-status");
  const setLive = (state, text) => {
    liveStatus.dataset.state = state;
    liveStatus.querySelector("[data-field=live-text]").textContent = text;
  };
  const live = sharedLive();
  live.subscribe(`plan:${planId}`, {
    after: Number(page.dataset.lastSeq),
    onEvent: (event) => {
      if (!isScore(event)) return;
      say(event);
      refresh();
    },
    onResync: () => refresh(),
  });
  live.onState((state) => {
    if (state === State.live) setLive("live", "Live");
    else if (state === State.reconnecting) setLive("reconnecting", "Reconnecting…");
    else if (state === State.stopped) setLive("stopped", "Not live");
  });
  live.start();
}
