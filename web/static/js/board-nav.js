// The board by keyboard and on every screen (docs/board.md, "Keyboard and screen sizes"). Imported by board.js;
// it works on the board's markup only (cards, lanes, cells, the Move button), so board.js's moves, drags and
// live events need not know about it: a MutationObserver keeps it in step with whatever board.js changes.
//
// - Roving tabindex: one Tab stop per lane, its current card (then that card's own buttons); the other cards
//   and their buttons are tabindex -1. Arrow keys go between cards and lanes, Home/End to a lane's ends.
// - Shortcuts (never while typing in a field or with a dialog open): 1-9 go to that lane (its number is shown
//   beside its name), Enter opens the focused card, M opens its Move menu, ? shows the shortcuts.
// - Every change is said: what the keys do here (#board-announcer), what the rest of the team does live
//   (#board-news).
// - Layout: collapsible lanes and a compact density, remembered per user and plan in localStorage; on a
//   narrow screen one column at a time, chosen with tabs.

const root = document.getElementById("board-page");
const boardEl = document.getElementById("board");
const lanesEl = document.getElementById("board-lanes");
const announcer = document.getElementById("board-announcer");
const keysHelp = document.getElementById("board-keys");
const densityButton = root.querySelector('[data-action="toggle-density"]');
const tabs = [...root.querySelectorAll("[data-column-tab]")];

const CONTROLS = "a[href], button, input, select, textarea, [tabindex]";
const MOVE_MENU = '[data-part="move-menu"]';
const storageKey = `careteam.board.${document.body.dataset.userId ?? "anyone"}.${root.dataset.planId}`;

function say(text) {
  announcer.textContent = "";
  requestAnimationFrame(() => { announcer.textContent = text; });
}

// --- Remembered view: collapsed lanes and density, per user and plan ---------------------------------

function loadView() {
  try {
    const saved = JSON.parse(localStorage.getItem(storageKey) ?? "{}");
    return { collapsed: new Set(Array.isArray(saved.collapsed) ? saved.collapsed : []), compact: saved.compact === true };
  } catch {
    return { collapsed: new Set(), compact: false }; // storage refused or garbled: the default view
  }
}

const view = loadView();

function saveView() {
  try {
    localStorage.setItem(storageKey, JSON.stringify({ collapsed: [...view.collapsed], compact: view.compact }));
  } catch {
    // Private mode or a full quota: the view still changes, it is just not remembered.
  }
}

// --- Lanes and cards as the user sees them ---------------------------------------------------------

function lanes() {
  return [...lanesEl.querySelectorAll(":scope > .lane")].filter((lane) => !lane.hidden);
}

function laneName(lane) {
  return lane.getAttribute("aria-label");
}

function shown(el) {
  return el.checkVisibility ? el.checkVisibility() : el.getClientRects().length > 0;
}

function cellsOf(lane) {
  return [...lane.querySelectorAll(".cell")].filter(shown);
}

function cardsOf(cell) {
  return [...cell.querySelectorAll(":scope > .card")].filter(shown);
}

function laneCards(lane) {
  return cellsOf(lane).flatMap(cardsOf);
}

function setTabStop(card, on) {
  const value = on ? "0" : "-1";
  for (const el of [card, ...card.querySelectorAll(CONTROLS)]) {
    if (el.closest(MOVE_MENU)) continue;
    if (el.getAttribute("tabindex") !== value) el.setAttribute("tabindex", value);
  }
}

// The lane's tab stop: the card that has the focus, else the one that had it, else the first shown.
function syncLane(lane, number) {
  const discipline = lane.dataset.discipline;
  const cells = lane.querySelector(".lane__cells");
  const toggle = lane.querySelector('[data-action="toggle-lane"]');
  cells.id = `lane-cells-${discipline}`;
  toggle.setAttribute("aria-controls", cells.id);
  const collapsed = view.collapsed.has(discipline);
  // Only real changes: every attribute write is a mutation, and mutations bring sync() back.
  if (cells.hidden !== collapsed) cells.hidden = collapsed;
  lane.classList.toggle("is-collapsed", collapsed);
  toggle.setAttribute("aria-expanded", String(!collapsed));
  const key = lane.querySelector("[data-field='lane-key']");
  const shortcut = number <= 9 ? String(number) : "";
  if (key.textContent !== shortcut) key.textContent = shortcut;
  const all = [...lane.querySelectorAll(".card")];
  const visible = collapsed ? [] : laneCards(lane);
  const current = visible.find((c) => c.contains(document.activeElement))
    ?? visible.find((c) => c.getAttribute("tabindex") === "0") ?? visible[0] ?? null;
  for (const card of all) setTabStop(card, card === current);
}

let syncQueued = false;

function sync() {
  syncQueued = false;
  lanes().forEach((lane, i) => syncLane(lane, i + 1));
  for (const card of lanesEl.querySelectorAll(":scope > .lane[hidden] .card[tabindex='0']")) setTabStop(card, false);
  boardEl.classList.toggle("board--compact", view.compact);
  densityButton.setAttribute("aria-pressed", String(view.compact));
  syncTabs();
}

function queueSync() {
  if (syncQueued) return;
  syncQueued = true;
  queueMicrotask(sync);
}

// --- Moving the focus ------------------------------------------------------------------------------

function focusCard(card) {
  if (!card) return false;
  const lane = card.closest(".lane");
  for (const other of lane.querySelectorAll(".card")) setTabStop(other, other === card);
  card.focus();
  card.scrollIntoView({ block: "nearest", inline: "nearest" });
  return true;
}

// The card in the same column of the lane above or below (or the nearest column that has cards).
function cardInLane(lane, column, end) {
  const cells = cellsOf(lane).filter((cell) => cardsOf(cell).length > 0);
  if (cells.length === 0) return null;
  const order = cellsOf(lane).map((cell) => cell.dataset.column);
  const target = order.indexOf(column);
  const cell = cells.find((c) => c.dataset.column === column)
    ?? cells.reduce((best, c) => (Math.abs(order.indexOf(c.dataset.column) - target)
      < Math.abs(order.indexOf(best.dataset.column) - target) ? c : best));
  const cards = cardsOf(cell);
  return end === "first" ? cards[0] : cards[cards.length - 1];
}

function neighbourLane(lane, step) {
  const all = lanes();
  for (let i = all.indexOf(lane) + step; i >= 0 && i < all.length; i += step) {
    if (laneCards(all[i]).length > 0 && !view.collapsed.has(all[i].dataset.discipline)) return all[i];
  }
  return null;
}

function arrowTarget(card, key) {
  const cell = card.parentElement;
  const lane = card.closest(".lane");
  const cards = cardsOf(cell);
  const index = cards.indexOf(card);
  if (key === "ArrowUp" || key === "ArrowDown") {
    const step = key === "ArrowUp" ? -1 : 1;
    if (cards[index + step]) return cards[index + step];
    const next = neighbourLane(lane, step);
    return next ? cardInLane(next, cell.dataset.column, step < 0 ? "last" : "first") : null;
  }
  if (key === "ArrowLeft" || key === "ArrowRight") {
    const cells = cellsOf(lane);
    const step = key === "ArrowLeft" ? -1 : 1;
    for (let i = cells.indexOf(cell) + step; i >= 0 && i < cells.length; i += step) {
      const there = cardsOf(cells[i]);
      if (there.length > 0) return there[Math.min(index, there.length - 1)];
    }
    return null;
  }
  const all = laneCards(lane);
  return key === "Home" ? all[0] : key === "End" ? all[all.length - 1] : null;
}

function goToLane(lane) {
  const toggle = lane.querySelector('[data-action="toggle-lane"]');
  const card = lane.querySelector(".card[tabindex='0']");
  const count = lane.querySelector("[data-field='lane-count']").textContent;
  if (card && shown(card)) {
    focusCard(card);
  } else {
    toggle.focus();
    toggle.scrollIntoView({ block: "nearest" });
  }
  const collapsed = view.collapsed.has(lane.dataset.discipline) ? ", collapsed" : "";
  say(`${laneName(lane)} lane, ${count}${collapsed}.`);
}

function typing(target) {
  return target instanceof Element
    && (target.closest("input, textarea, select, [contenteditable]:not([contenteditable='false'])") !== null);
}

document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && keysHelp.open && keysHelp.contains(e.target)) {
    keysHelp.open = false;
    keysHelp.querySelector("summary").focus();
    return;
  }
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
  if (document.querySelector("dialog[open]")) return;
  const card = e.target instanceof Element && e.target.classList.contains("card") ? e.target : null;
  if (card && ["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Home", "End"].includes(e.key)) {
    e.preventDefault();
    focusCard(arrowTarget(card, e.key));
    return;
  }
  if (card && e.key === "Enter") {
    e.preventDefault();
    card.querySelector('[data-action="edit"]').click();
    return;
  }
  if (card && (e.key === "m" || e.key === "M")) {
    e.preventDefault();
    card.querySelector('[data-action="move-menu"]').click();
    return;
  }
  if (/^[1-9]$/.test(e.key)) {
    const lane = lanes()[Number(e.key) - 1];
    if (!lane) return;
    e.preventDefault();
    goToLane(lane);
    return;
  }
  if (e.key === "?") {
    e.preventDefault();
    keysHelp.open = !keysHelp.open;
    if (keysHelp.open) keysHelp.querySelector("summary").focus();
  }
});

// A card's button or the Move menu inside it has the focus: that card is its lane's tab stop.
lanesEl.addEventListener("focusin", (e) => {
  const card = e.target instanceof Element ? e.target.closest(".card") : null;
  if (!card || card.getAttribute("tabindex") === "0") return;
  for (const other of card.closest(".lane").querySelectorAll(".card")) setTabStop(other, other === card);
});

// --- Collapsing lanes, density ---------------------------------------------------------------------

lanesEl.addEventListener("click", (e) => {
  const toggle = e.target instanceof Element ? e.target.closest('[data-action="toggle-lane"]') : null;
  if (!toggle) return;
  const lane = toggle.closest(".lane");
  const discipline = lane.dataset.discipline;
  if (view.collapsed.has(discipline)) view.collapsed.delete(discipline);
  else view.collapsed.add(discipline);
  saveView();
  sync();
  const collapsed = view.collapsed.has(discipline);
  say(`${laneName(lane)} lane ${collapsed ? "collapsed" : "expanded"}.`);
});

densityButton.addEventListener("click", () => {
  view.compact = !view.compact;
  saveView();
  sync();
  say(view.compact ? "Compact cards." : "Full cards.");
});

// --- Skip links ------------------------------------------------------------------------------------

for (const link of document.querySelectorAll(".skip-link[data-skip]")) {
  link.addEventListener("click", (e) => {
    const target = document.getElementById(link.dataset.skip);
    if (!target) return;
    e.preventDefault();
    if (target.matches(".lane")) return void goToLane(target);
    if (target === boardEl) {
      const first = lanes().map((lane) => lane.querySelector(".card[tabindex='0']")).find((c) => c && shown(c));
      if (first) return void focusCard(first);
    }
    if (!target.hasAttribute("tabindex")) target.tabIndex = -1;
    target.focus();
    target.scrollIntoView({ block: "start" });
  });
}

// --- Others' changes, said as they arrive ----------------------------------------------------------
// board.js says what you do yourself where you do it (a move, a save, a refusal, "Back online"); what the
// rest of the team does arrives live and is said here, in the words of its line in the Activity list, in a
// region of its own (#board-news) so that neither cuts the other off. A burst (catching up after a
// reconnect) is said once: its last three lines and how many more.

const me = Number(root.dataset.me);
const news = document.getElementById("board-news");
let heard = [];

function sayNews(line) {
  heard.push(line);
  if (heard.length > 1) return;
  news.textContent = "";
  requestAnimationFrame(() => {
    const lines = heard;
    heard = [];
    const more = lines.length > 3 ? ` And ${lines.length - 3} more changes: see the Activity list.` : "";
    news.textContent = lines.slice(-3).join(" ") + more;
  });
}

document.addEventListener("careteam:plan-event", (e) => {
  const event = e.detail;
  if (!event || event.actor_id === me) return;
  const item = document.querySelector(`#activity-list > [data-seq="${event.seq}"]`);
  if (!item) return; // a kind the Activity list leaves out (a read receipt)
  const who = item.querySelector("[data-field='who']").textContent.trim();
  const what = item.querySelector("[data-field='text']").textContent.trim();
  sayNews(`${who} ${what}.`);
});

// --- Narrow screens: one column at a time, chosen with tabs ------------------------------------------

function tabShown(tab) {
  return tab.dataset.columnTab !== "closed" || boardEl.classList.contains("board--show-closed");
}

function chooseTab(tab, { focus = false } = {}) {
  for (const other of tabs) {
    const on = other === tab;
    other.setAttribute("aria-selected", String(on));
    other.tabIndex = on ? 0 : -1;
  }
  boardEl.dataset.tab = tab.dataset.columnTab;
  if (focus) tab.focus();
}

function syncTabs() {
  for (const tab of tabs) {
    if (tab.hidden === tabShown(tab)) tab.hidden = !tabShown(tab);
    const count = boardEl.querySelector(`.board__column-head [data-count="${tab.dataset.columnTab}"]`)?.textContent ?? "";
    const field = tab.querySelector("[data-field='tab-count']");
    if (field.textContent !== count) field.textContent = count;
  }
  const current = tabs.find((t) => t.dataset.columnTab === boardEl.dataset.tab);
  if (!current || current.hidden) chooseTab(tabs[0]);
}

for (const tab of tabs) {
  tab.addEventListener("click", () => {
    chooseTab(tab);
    queueSync();
    say(`${tab.dataset.columnLabel}: ${tab.querySelector("[data-field='tab-count']").textContent} tasks.`);
  });
  tab.addEventListener("keydown", (e) => {
    const usable = tabs.filter((t) => !t.hidden);
    const i = usable.indexOf(tab);
    const next = { ArrowLeft: usable[i - 1] ?? usable[usable.length - 1], ArrowRight: usable[i + 1] ?? usable[0],
      Home: usable[0], End: usable[usable.length - 1] }[e.key];
    if (!next) return;
    e.preventDefault();
    chooseTab(next, { focus: true });
    next.click();
  });
}

// --- Start -----------------------------------------------------------------------------------------

new MutationObserver(queueSync).observe(boardEl, {
  subtree: true, childList: true, attributes: true, attributeFilter: ["class", "hidden"],
});
// The tab stops depend on what is shown, and a narrow screen shows one column.
matchMedia("(max-width: 37.5rem)").addEventListener("change", queueSync);
sync();
