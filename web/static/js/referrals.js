// The board's Referrals panel (careteam/referrals/pages.py, templates/referrals/board_panel.html), kept live.
// An ES module, no build step. board.js applies the plan's own events and hands every event of the plan on as
// a `careteam:plan-event` DOM event; the referral.* ones carry the whole referral (ReferralPublic), so a row
// is upserted from it by `#referral-<id>`: cloned from the panel's <template>, filled with textContent only.
// What the clock says is written twice, here and in pages.py (`clock`, `span`, `recipient`): keep them alike.

const list = document.getElementById("referral-rows");
const empty = document.getElementById("referrals-empty");
const announcer = document.getElementById("referrals-announcer");
const template = document.getElementById("referral-row-template");
const labels = JSON.parse(document.getElementById("referral-labels").textContent);

function span(seconds) {
  const s = Math.abs(seconds);
  for (const [unit, size] of [["day", 86_400], ["hour", 3_600], ["minute", 60]]) {
    if (s >= size) {
      const n = Math.floor(s / size);
      return `${n} ${unit}${n === 1 ? "" : "s"}`;
    }
  }
  return "less than a minute";
}

function clock(r) {
  if (r.status !== "active" || r.answer !== null) return "";
  const left = (new Date(r.respond_by).getTime() - Date.now()) / 1000;
  return r.overdue || left < 0 ? `Overdue by ${span(left)}` : `Due in ${span(left)}`;
}

function recipient(r) {
  const person = r.claimed_by ?? r.assignee;
  if (person) return person.display_name;
  return `${labels.disciplines[r.discipline] ?? r.discipline} pool`;
}

function setText(el, name, text) {
  for (const target of el.querySelectorAll(`[data-field="${name}"]`)) target.textContent = text;
}

// Rows in respond-by order, as the server lists them.
function place(item, r) {
  const due = new Date(r.respond_by).getTime();
  item.dataset.respondBy = String(due);
  const after = [...list.children].find((other) => other !== item && Number(other.dataset.respondBy) > due) ?? null;
  if (item.parentElement !== list || item.nextElementSibling !== after) list.insertBefore(item, after);
}

function upsert(r) {
  const known = document.getElementById(`referral-${r.id}`);
  if (known && Number(known.dataset.version) > r.version) return; // an older event than the row shows
  const item = known ?? template.content.firstElementChild.cloneNode(true);
  item.id = `referral-${r.id}`;
  item.dataset.version = String(r.version);
  item.dataset.phase = r.phase;
  item.classList.toggle("is-overdue", Boolean(r.overdue));
  field(item, "link").href = `/referrals/${r.id}`;
  setText(item, "id", String(r.id));
  setText(item, "discipline", labels.disciplines[r.discipline] ?? r.discipline);
  setText(item, "reason", r.reason);
  setText(item, "status", labels.phases[r.phase] ?? r.phase);
  setText(item, "recipient", recipient(r));
  setText(item, "clock", clock(r));
  item.querySelector('[data-part="overdue"]').hidden = !r.overdue;
  place(item, r);
  empty.hidden = true;
  announcer.textContent = `Referral #${r.id} to ${labels.disciplines[r.discipline] ?? r.discipline}: ${labels.phases[r.phase] ?? r.phase}.`;
}

function field(el, name) {
  return el.querySelector(`[data-field="${name}"]`);
}

document.addEventListener("careteam:plan-event", ({ detail: event }) => {
  if (typeof event.kind !== "string" || !event.kind.startsWith("referral.")) return;
  if (!event.data || !Number.isInteger(event.data.id)) return;
  upsert(event.data);
});
