// Outcome measures, live. An ES module, no build step. The drawings are made on the server
// (careteam/outcomes/charts.py, pages.py); this only fetches the part again when it changes on the plan's
// stream:
// - on a board, from board.js's `careteam:plan-event` DOM events: the header's sparklines (a score
//   changed), each goal's achievement in its card's slot `goal-extra` (a score or a goal changed), and
//   each task's latest block response in its card's slot `card-extra` (from the response.* events' data);
// - on a plan's outcomes page, its goals, charts and tables, from its own subscription to `plan:<id>`.
import { sharedLive, State } from "./live.js";

const announcer = document.getElementById("outcomes-announcer");
const kindOf = (event) => (typeof event.kind === "string" ? event.kind : "");
const isScore = (event) => kindOf(event).startsWith("measure.");
const isGoal = (event) => kindOf(event).startsWith("goal.");
const isResponse = (event) => kindOf(event).startsWith("response.");

function say(event) {
  const d = event.data ?? {};
  if (isResponse(event)) {
    const what = `Block response ${d.relief_percent}% relief over ${d.duration_hours} h`;
    announcer.textContent = event.kind === "response.recorded" ? `${what}: ${d.result}` : `${what} withdrawn as entered in error`;
    return;
  }
  const what = `${d.code?.display ?? "A score"} ${d.value}${d.unit ?? ""}`;
  announcer.textContent = event.kind === "measure.recorded" ? `${what} recorded` : `${what} withdrawn as entered in error`;
}

// The goals' achievement: the server's badges, each moved into its goal card's slot (a goal with none,
// no longer judged by a measure, gets its slot emptied).
function goalRefresher(planId) {
  let generation = 0;
  return async () => {
    const mine = ++generation;
    const answer = await fetch(`/plans/${planId}/outcomes/goals`, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (!answer.ok || mine !== generation) return;
    const parsed = document.createElement("template");
    parsed.innerHTML = await answer.text();
    if (mine !== generation) return;
    const badges = new Map([...parsed.content.querySelectorAll("[data-goal-id]")].map((el) => [el.dataset.goalId, el]));
    for (const slot of document.querySelectorAll('#goal-list [data-slot="goal-extra"]')) {
      const badge = badges.get(slot.closest("[data-goal-id]")?.dataset.goalId ?? "");
      slot.replaceChildren(...(badge ? badge.childNodes : []));
    }
  };
}

// Each task's block responses (by id, as the events carry them); its card shows the latest not withdrawn.
function responseCards() {
  const byId = new Map();
  const source = document.getElementById("procedure-responses");
  for (const r of source ? JSON.parse(source.textContent) : []) byId.set(r.id, r);
  const decorate = (taskId) => {
    const shared = document.querySelector(`#task-${taskId} [data-slot="card-extra"]`);
    if (!shared) return;
    let slot = shared.querySelector(':scope > [data-extra="response"]');
    if (!slot) {
      slot = document.createElement("span");
      slot.dataset.extra = "response";
      shared.append(slot);
    }
    const latest = [...byId.values()]
      .filter((r) => r.task_id === taskId && r.status === "final")
      .sort((a, b) => (a.observed_at < b.observed_at ? -1 : a.observed_at > b.observed_at ? 1 : a.id - b.id))
      .at(-1);
    if (!latest) {
      slot.replaceChildren();
      return;
    }
    const el = document.createElement("span");
    el.className = `card__response card__response--${latest.result}`;
    el.dataset.result = latest.result;
    el.textContent = `${latest.relief_percent}% relief over ${latest.duration_hours} h: ${latest.result}`;
    slot.replaceChildren(el);
  };
  for (const taskId of new Set([...byId.values()].map((r) => r.task_id))) decorate(taskId);
  return (response) => {
    const known = byId.get(response.id);
    if (known && known.version > response.version) return;
    byId.set(response.id, response);
    decorate(response.task_id);
  };
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
  const refreshGoals = goalRefresher(sparks.dataset.planId);
  const showResponse = responseCards();
  document.addEventListener("careteam:plan-event", ({ detail: event }) => {
    if (isResponse(event)) {
      say(event);
      showResponse(event.data);
    }
    if (isScore(event) || isGoal(event)) refreshGoals();
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
      // Tasks too: a procedure's completion moves its mark on the charts.
      if (!(isScore(event) || isGoal(event) || isResponse(event) || kindOf(event).startsWith("task."))) return;
      if (isScore(event) || isResponse(event)) say(event);
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
