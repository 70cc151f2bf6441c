// Messaging on the care-plan board (careteam/messaging/pages.py, templates/messaging/thread_panel.html). An ES
// module, no build step, no inline code (CSP).
//
// - One Thread (a list of messages, "Load earlier", "seen by", its read position) and one Composer (@mention
//   completion, urgent, Send with an Idempotency-Key) serve both the plan's team thread (#team-thread) and a
//   task's comments, which go in the task dialog's slot (data-slot="task-extra") when board.js says the dialog
//   opened (`careteam:task-dialog`).
// - Live from board.js's `careteam:plan-event` (message.created/edited/deleted/acknowledged carry the whole
//   MessagePublic; message.seen {user_id, thread, up_to}; task.* for the cards) and inbox.js's `careteam:inbox`
//   (messages.read: her own counts, from any of her tabs). Messages are upserted by id and version, so the
//   sender's POST answer and its event make one message.
// - DOM built with textContent; the only HTML inserted is a message's `html` as the server rendered and
//   sanitised it (nh3 allow-list, careteam/messaging/render.py).
// - A thread on screen (IntersectionObserver, page visible) holding unread messages by others is marked read up
//   to its newest message shown.
// What a message shows is written twice, here (fillMessage) and in pages.py (message_view): keep them alike.

import { api, idempotencyKey } from "./api.js";
import { formatWhen } from "./when.js";

const state = JSON.parse(document.getElementById("thread-state").textContent);
const board = JSON.parse(document.getElementById("board-state").textContent);
const planId = state.plan_id;
const me = state.me;
const FORMER = "A former clinician";
const MENTION_MAX = 8;

let members = state.members;
const tasks = new Map(board.tasks.map((t) => [t.id, { title: t.title, message_id: t.message_id ?? null }]));
// thread key ("plan:4", "task:17") -> user id -> last read message id
const positions = new Map(
  Object.entries(state.positions).map(([thread, users]) => [thread, new Map(Object.entries(users).map(([u, n]) => [Number(u), n]))]),
);
const comments = new Map(Object.entries(state.comments).map(([t, n]) => [Number(t), n]));
const tasksUnread = new Map(Object.entries(state.tasks_unread).map(([t, n]) => [Number(t), n]));

// --- Small helpers -----------------------------------------------------------------------------------

function field(el, name) {
  return el.querySelector(`[data-field="${name}"]`);
}

function part(el, name) {
  return el.querySelector(`[data-part="${name}"]`);
}

function nameOf(userId) {
  return members.find((m) => m.user_id === userId)?.display_name ?? FORMER;
}

function timeEl(iso) {
  const el = document.createElement("time");
  el.dateTime = iso;
  el.textContent = formatWhen(iso);
  return el;
}

function problemText(result) {
  const detail = result.body?.detail;
  switch (result.status) {
    case 0:
      return "The server could not be reached. Nothing was lost: try again.";
    case 401:
      return "You are signed out. Sign in again, then try again.";
    case 404:
      return "This is no longer on one of your care plans.";
    case 422: {
      const errors = result.body?.errors ?? [];
      return errors.length ? errors.map((e) => e.message).join(" ") : detail ?? "Check what you wrote.";
    }
    default:
      return detail ?? "Something went wrong on the server. Try again.";
  }
}

function position(thread, userId) {
  return positions.get(thread)?.get(userId) ?? 0;
}

function setPosition(thread, userId, upTo) {
  if (!positions.has(thread)) positions.set(thread, new Map());
  const users = positions.get(thread);
  if ((users.get(userId) ?? 0) < upTo) users.set(userId, upTo);
}

// --- One message -------------------------------------------------------------------------------------

function fillMessage(el, m, thread) {
  el.id = `message-${m.id}`;
  el.dataset.messageId = String(m.id);
  el.dataset.version = String(m.version);
  el.dataset.authorId = String(m.author.id);
  el.classList.toggle("is-urgent", Boolean(m.urgent));
  el.classList.toggle("is-deleted", m.deleted);
  field(el, "author").textContent = m.author.display_name;
  const when = field(el, "when");
  when.dateTime = m.created_at;
  when.textContent = formatWhen(m.created_at);
  part(el, "edited").hidden = !m.edited_at || m.deleted;
  part(el, "urgent").hidden = !m.urgent;
  const html = field(el, "html");
  if (m.deleted) html.replaceChildren();
  else html.innerHTML = m.html; // the server's sanitised rendering (nh3), never the body the user typed
  html.hidden = m.deleted;
  part(el, "removed").hidden = !m.deleted;

  part(el, "urgent-info").hidden = !m.urgent;
  if (m.urgent) {
    const asked = [
      ...m.urgent.users.map(nameOf),
      ...m.urgent.disciplines.map((d) => (m.urgent.any_of_discipline ? `any of ${state.disciplines[d] ?? d}` : state.disciplines[d] ?? d)),
    ];
    field(el, "asked").textContent = asked.join(", ");
    field(el, "waiting").textContent = m.urgent.waiting_for.map(nameOf).join(", ");
    part(el, "waiting").hidden = m.urgent.waiting_for.length === 0;
  }
  field(el, "acks").replaceChildren(
    ...m.acks.map((a) => {
      const li = document.createElement("li");
      li.append(`Acknowledged by ${a.display_name} `, timeEl(a.at));
      return li;
    }),
  );
  fillTaskLinks(el, m);
  fillSeen(el, m, thread);
  const button = (action) => el.querySelector(`[data-message-action="${action}"]`);
  button("ack").hidden = !(m.urgent && m.urgent.waiting_for.includes(me) && !m.deleted);
  button("make-task").hidden = m.deleted;
  button("edit").hidden = m.author.id !== me || m.deleted;
  button("remove").hidden = !(m.author.id === me || state.is_lead) || m.deleted;
}

function fillTaskLinks(el, m) {
  const links = (m.task_ids ?? []).map((id) => {
    const a = document.createElement("a");
    a.href = `#task-${id}`;
    a.dataset.taskLink = String(id);
    a.textContent = `Task: ${tasks.get(id)?.title ?? `#${id}`}`;
    return a;
  });
  field(el, "tasks").replaceChildren(...links);
  part(el, "tasks").hidden = links.length === 0;
}

function fillSeen(el, m, thread) {
  const readers = [...(positions.get(thread) ?? new Map())]
    .filter(([userId, upTo]) => upTo >= m.id && userId !== m.author.id && members.some((x) => x.user_id === userId))
    .map(([userId]) => nameOf(userId))
    .sort((a, b) => a.localeCompare(b));
  field(el, "seen").textContent = readers.join(", ");
  part(el, "seen").hidden = readers.length === 0;
}

// --- A thread ----------------------------------------------------------------------------------------

class Thread {
  constructor(root, { key, taskId = null, messages = [], unread = 0, visible = false }) {
    this.root = root;
    this.key = key;
    this.taskId = taskId;
    this.base = taskId === null ? `/api/v1/plans/${planId}/messages` : `/api/v1/tasks/${taskId}/messages`;
    this.list = field(root, "messages");
    this.earlier = root.querySelector('[data-thread-action="earlier"]');
    this.status = field(root, "status");
    this.data = new Map(messages.map((m) => [m.id, m]));
    this.unread = unread;
    this.visible = visible;
    this.reading = false;
    this.readAgain = false;
    this.composer = new Composer(root.querySelector("[data-composer]"), this);
    for (const when of this.list.querySelectorAll("time[datetime]")) when.textContent = formatWhen(when.dateTime);
    this.earlier.addEventListener("click", () => this.loadEarlier());
    root.addEventListener("click", (e) => this.onClick(e));
  }

  element(id) {
    return this.list.querySelector(`[data-message-id="${id}"]`);
  }

  // Show a message as the server says it is now (an older version than the one shown is ignored).
  upsert(m) {
    if ((m.task_id ?? null) !== this.taskId) return;
    let el = this.element(m.id);
    if (el && Number(el.dataset.version) > m.version) return;
    if (!el) {
      el = messageTemplate.content.firstElementChild.cloneNode(true);
      const after = [...this.list.children].find((other) => Number(other.dataset.messageId) > m.id) ?? null;
      this.list.insertBefore(el, after);
    }
    this.data.set(m.id, m);
    fillMessage(el, m, this.key);
    field(this.root, "empty").hidden = true;
  }

  newestId() {
    const last = this.list.lastElementChild;
    return last ? Number(last.dataset.messageId) : 0;
  }

  refreshSeen() {
    for (const el of this.list.children) {
      const m = this.data.get(Number(el.dataset.messageId));
      if (m) fillSeen(el, m, this.key);
    }
  }

  setUnread(n) {
    this.unread = Math.max(0, n);
    field(this.root, "unread-count").textContent = String(this.unread);
    field(this.root, "unread").hidden = this.unread === 0;
  }

  hasUnreadByOthers() {
    const mine = position(this.key, me);
    return [...this.data.values()].some((m) => m.id > mine && m.author.id !== me && !m.deleted);
  }

  // Opening a thread marks it read: on screen, the page visible, unread messages by others shown.
  async maybeMarkRead() {
    if (!this.visible || document.visibilityState !== "visible" || !this.hasUnreadByOthers()) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = true;
    try {
      do {
        this.readAgain = false;
        const upTo = this.newestId();
        const result = await api("POST", `${this.base}/read`, { body: { up_to: upTo } });
        if (!result.ok) return;
        setPosition(this.key, me, result.body.last_read_id);
        this.applyRead(result.body);
      } while (this.readAgain && this.hasUnreadByOthers());
    } finally {
      this.reading = false;
    }
  }

  applyRead(read) {
    this.setUnread(read.thread_unread);
    if (this.taskId !== null) {
      tasksUnread.set(this.taskId, read.thread_unread);
      decorateCard(this.taskId);
    }
  }

  async load(before) {
    const query = new URLSearchParams({ limit: String(state.page_size) });
    if (before) query.set("before", String(before));
    const result = await api("GET", `${this.base}?${query}`);
    if (!result.ok) {
      this.status.textContent = `Could not load the messages. ${problemText(result)}`;
      return false;
    }
    for (const m of result.body.items) this.upsert(m);
    this.earlier.dataset.before = result.body.next_before ?? "";
    this.earlier.hidden = result.body.next_before === null;
    field(this.root, "empty").hidden = this.list.children.length > 0;
    return true;
  }

  async loadEarlier() {
    const before = Number(this.earlier.dataset.before);
    if (!before) return false;
    const first = this.list.firstElementChild;
    const ok = await this.load(before);
    if (ok && first) this.status.textContent = "Earlier messages loaded.";
    return ok;
  }

  // Find a message, paging back until it shows or the thread has no more.
  async find(id) {
    while (!this.element(id) && Number(this.earlier.dataset.before)) {
      if (!(await this.loadEarlier())) break;
    }
    return this.element(id);
  }

  async onClick(e) {
    const button = e.target instanceof Element ? e.target.closest("[data-message-action]") : null;
    if (!button || !this.root.contains(button)) return;
    const el = button.closest(".message");
    const m = this.data.get(Number(el?.dataset.messageId));
    if (!m) return;
    const say = (text) => { this.status.textContent = text; };
    switch (button.dataset.messageAction) {
      case "ack": {
        button.disabled = true;
        const result = await api("POST", `/api/v1/messages/${m.id}/ack`);
        button.disabled = false;
        if (result.ok) {
          this.upsert(result.body);
          say("Acknowledged.");
        } else say(`Not acknowledged: ${problemText(result)}`);
        return;
      }
      case "make-task": {
        button.dataset.key ||= idempotencyKey();
        button.disabled = true;
        const result = await api("POST", `/api/v1/messages/${m.id}/task`, { body: {}, headers: { "Idempotency-Key": button.dataset.key } });
        button.disabled = false;
        if (result.status !== 0) delete button.dataset.key;
        if (!result.ok) {
          say(`No task made: ${problemText(result)}`);
          return;
        }
        linkTask(result.body);
        say(`Task made: ${result.body.title}. It is on the board.`);
        return;
      }
      case "edit":
        this.edit(el, m);
        return;
      case "remove": {
        if (!window.confirm("Remove this message? The thread will show it as removed.")) return;
        const result = await api("DELETE", `/api/v1/messages/${m.id}`, { headers: { "If-Match": `W/"${m.version}"` } });
        if (result.ok) this.upsert(result.body);
        else {
          if (result.status === 412 && result.body?.current) this.upsert(result.body.current);
          say(`Not removed: ${problemText(result)}`);
        }
        return;
      }
      default:
    }
  }

  // Edit in place: a small form with the Markdown as written; If-Match, so a change made first is not lost.
  edit(el, m) {
    if (el.querySelector(".message__edit")) return;
    const form = document.createElement("form");
    form.className = "message__edit";
    const id = `edit-${m.id}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = "Edit your message";
    const text = document.createElement("textarea");
    text.id = id;
    text.rows = 3;
    text.maxLength = 10000;
    text.value = m.body;
    const error = document.createElement("p");
    error.className = "alert alert--error";
    error.setAttribute("role", "alert");
    error.hidden = true;
    const save = document.createElement("button");
    save.type = "submit";
    save.className = "button button--primary button--small";
    save.textContent = "Save";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "button button--quiet button--small";
    cancel.textContent = "Cancel";
    const actions = document.createElement("div");
    actions.className = "message__actions";
    actions.append(save, cancel);
    form.append(label, text, error, actions);
    field(el, "html").after(form);
    text.focus();
    const close = () => {
      form.remove();
      el.querySelector('[data-message-action="edit"]')?.focus();
    };
    cancel.addEventListener("click", close);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const current = this.data.get(m.id) ?? m;
      save.disabled = true;
      const result = await api("PATCH", `/api/v1/messages/${m.id}`, {
        body: { body: text.value },
        headers: { "If-Match": `W/"${current.version}"` },
      });
      save.disabled = false;
      if (result.ok) {
        this.upsert(result.body);
        close();
        return;
      }
      if (result.status === 412 && result.body?.current) this.upsert(result.body.current);
      error.textContent = result.status === 412
        ? "Someone changed this message first. Its new text is shown; your text is still here."
        : problemText(result);
      error.hidden = false;
    });
  }
}

// --- The composer, with @mention completion ----------------------------------------------------------

class Composer {
  constructor(form, thread) {
    this.form = form;
    this.thread = thread;
    this.text = form.elements.body;
    this.listbox = form.querySelector('[role="listbox"]');
    this.error = field(form, "error");
    this.options = [];
    this.active = -1;
    this.pending = null; // {key, sent}: the key of a message whose POST got no answer, reused if it is sent again
    this.text.addEventListener("input", () => this.complete());
    this.text.addEventListener("click", () => this.complete());
    this.text.addEventListener("keydown", (e) => this.onKey(e));
    this.text.addEventListener("blur", () => setTimeout(() => this.close(), 150));
    this.listbox.addEventListener("mousedown", (e) => e.preventDefault()); // keep the focus in the textarea
    this.listbox.addEventListener("click", (e) => {
      const option = e.target instanceof Element ? e.target.closest('[role="option"]') : null;
      if (option) this.insert(Number(option.dataset.index));
    });
    field(form, "urgent-toggle").addEventListener("change", (e) => {
      part(form, "urgent").hidden = !e.target.checked;
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.send();
    });
  }

  // The @word being typed just before the caret, if any.
  word() {
    const before = this.text.value.slice(0, this.text.selectionStart);
    const match = /(?:^|[^\w@.])@([A-Za-z0-9_.-]*)$/.exec(before);
    return match ? { query: match[1].toLowerCase(), start: before.length - match[1].length - 1 } : null;
  }

  suggestions(query) {
    const people = members
      .filter((m) => m.user_id !== me)
      .filter((m) => m.username.toLowerCase().startsWith(query) || m.display_name.toLowerCase().split(/\s+/).some((w) => w.startsWith(query)))
      .map((m) => ({ insert: m.username, label: `${m.display_name} (@${m.username})` }));
    // Disciplines someone on the team is in (a mention of another reaches nobody), and @team.
    const onTeam = new Set(members.map((m) => m.discipline));
    const groups = state.aliases
      .filter((alias) => alias.startsWith(query))
      .filter((alias) => alias === "team" || onTeam.has(state.alias_disciplines[alias]))
      .map((alias) => ({
        insert: alias,
        label: alias === "team" ? "@team (everyone on the care team)" : `@${alias} (${state.disciplines[state.alias_disciplines[alias]] ?? alias})`,
      }));
    return [...people, ...groups].slice(0, MENTION_MAX);
  }

  complete() {
    const word = this.word();
    if (!word) return this.close();
    this.options = this.suggestions(word.query);
    if (!this.options.length) return this.close();
    const prefix = this.listbox.id;
    this.listbox.replaceChildren(
      ...this.options.map((o, i) => {
        const li = document.createElement("li");
        li.id = `${prefix}-${i}`;
        li.setAttribute("role", "option");
        li.dataset.index = String(i);
        li.textContent = o.label;
        return li;
      }),
    );
    this.listbox.hidden = false;
    this.highlight(0);
    field(this.form, "mention-status").textContent = `${this.options.length} suggestion${this.options.length === 1 ? "" : "s"}: arrow keys to choose, Enter to insert.`;
  }

  highlight(index) {
    this.active = index;
    for (const li of this.listbox.children) li.setAttribute("aria-selected", String(Number(li.dataset.index) === index));
    const current = this.listbox.children[index];
    if (current) {
      this.text.setAttribute("aria-activedescendant", current.id);
      current.scrollIntoView({ block: "nearest" });
    }
  }

  close() {
    this.listbox.hidden = true;
    this.listbox.replaceChildren();
    this.options = [];
    this.active = -1;
    this.text.removeAttribute("aria-activedescendant");
  }

  insert(index) {
    const word = this.word();
    const option = this.options[index];
    if (!word || !option) return this.close();
    const value = this.text.value;
    const end = this.text.selectionStart;
    const added = `@${option.insert} `;
    this.text.value = value.slice(0, word.start) + added + value.slice(end);
    const caret = word.start + added.length;
    this.text.setSelectionRange(caret, caret);
    this.close();
    field(this.form, "mention-status").textContent = `Inserted @${option.insert}.`;
    this.text.focus();
  }

  onKey(e) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      this.send();
      return;
    }
    if (this.listbox.hidden) return;
    const n = this.options.length;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      this.highlight((this.active + (e.key === "ArrowDown" ? 1 : n - 1)) % n);
    } else if (e.key === "Enter" || e.key === "Tab") {
      e.preventDefault();
      this.insert(this.active);
    } else if (e.key === "Escape") {
      // Close the list, not the dialog the composer may be in.
      e.preventDefault();
      e.stopPropagation();
      this.close();
    }
  }

  urgent() {
    const f = this.form;
    if (!field(f, "urgent-toggle").checked) return undefined;
    const checked = (name) => [...f.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
    return {
      users: checked("urgent_user").map(Number),
      disciplines: checked("urgent_discipline"),
      any_of_discipline: f.querySelector('input[name="urgent_mode"]:checked')?.value === "any",
    };
  }

  showError(text) {
    this.error.textContent = text;
    this.error.hidden = !text;
    if (text) this.text.setAttribute("aria-invalid", "true");
    else this.text.removeAttribute("aria-invalid");
  }

  async send() {
    this.close();
    const body = { body: this.text.value };
    const urgent = this.urgent();
    if (urgent) body.urgent = urgent;
    if (!body.body.trim()) {
      this.showError("Write a message first.");
      this.text.focus();
      return;
    }
    if (urgent && !urgent.users.length && !urgent.disciplines.length) {
      this.showError("Choose who must acknowledge it: someone on the care team or a discipline.");
      return;
    }
    // One key per composed message: the same one again only when this same message is retried after no answer.
    const sent = JSON.stringify(body);
    const key = this.pending?.sent === sent ? this.pending.key : idempotencyKey();
    this.pending = { key, sent };
    const button = this.form.querySelector('button[type="submit"]');
    button.disabled = true;
    const result = await api("POST", this.thread.base, { body, headers: { "Idempotency-Key": key } });
    button.disabled = false;
    if (result.status !== 0) this.pending = null;
    if (!result.ok) {
      this.showError(`Not sent: ${problemText(result)}`);
      return;
    }
    this.showError("");
    this.thread.upsert(result.body);
    this.form.reset();
    part(this.form, "urgent").hidden = true;
    field(this.form, "mention-status").textContent = "Sent.";
    this.text.focus();
  }
}

// --- The cards: comment counts, unread comments, "From a message" ------------------------------------

function decorateCard(taskId) {
  const shared = document.querySelector(`#task-${taskId} [data-slot="card-extra"]`);
  if (!shared) return;
  // The card's slot is shared by features (outcomes put a block's response there): keep to our own part.
  let slot = shared.querySelector(':scope > [data-extra="thread"]');
  if (!slot) {
    slot = document.createElement("span");
    slot.dataset.extra = "thread";
    shared.prepend(slot);
  }
  const pieces = [];
  const count = comments.get(taskId) ?? 0;
  if (count > 0) {
    const el = document.createElement("span");
    el.className = "card__comments";
    el.dataset.comments = String(count);
    el.textContent = `${count} comment${count === 1 ? "" : "s"}`;
    pieces.push(el);
  }
  const unread = tasksUnread.get(taskId) ?? 0;
  if (unread > 0) {
    const el = document.createElement("span");
    el.className = "badge badge--unread card__unread";
    el.textContent = `${unread} unread`;
    pieces.push(el);
  }
  const from = tasks.get(taskId)?.message_id;
  if (from) {
    const a = document.createElement("a");
    a.href = `#message-${from}`;
    a.className = "card__from";
    a.textContent = "From a message";
    pieces.push(a);
  }
  slot.replaceChildren(...pieces);
}

// A task made from a message: the message names it ("Task: <title>").
function linkTask(task) {
  tasks.set(task.id, { title: task.title, message_id: task.message_id ?? null });
  if (!task.message_id) return;
  for (const thread of [team, comment].filter(Boolean)) {
    const m = thread.data.get(task.message_id);
    if (!m) continue;
    if (!m.task_ids.includes(task.id)) m.task_ids = [...m.task_ids, task.id];
    const el = thread.element(m.id);
    if (el) fillTaskLinks(el, m);
  }
}

// --- The threads on this page ------------------------------------------------------------------------

const messageTemplate = document.getElementById("message-template");
const teamRoot = document.getElementById("team-thread");
const team = new Thread(teamRoot, { key: `plan:${planId}`, messages: state.messages, unread: state.thread_unread });
let comment = null; // the open task's comments, in the task dialog

new IntersectionObserver((entries) => {
  team.visible = entries.some((entry) => entry.isIntersecting);
  team.maybeMarkRead();
}).observe(teamRoot);

document.addEventListener("visibilitychange", () => {
  team.maybeMarkRead();
  comment?.maybeMarkRead();
});

document.addEventListener("careteam:task-dialog", async ({ detail }) => {
  const slot = document.querySelector('#task-dialog [data-slot="task-extra"]');
  if (!slot) return;
  if (!detail.open) {
    comment = null;
    slot.replaceChildren();
    return;
  }
  const section = document.getElementById("comments-template").content.firstElementChild.cloneNode(true);
  slot.replaceChildren(section);
  const thread = new Thread(section, { key: `task:${detail.task_id}`, taskId: detail.task_id, visible: true });
  comment = thread;
  await thread.load(null);
  if (comment !== thread) return;
  thread.setUnread(tasksUnread.get(detail.task_id) ?? 0);
  thread.maybeMarkRead();
  section.dispatchEvent(new CustomEvent("careteam:comments-loaded", { bubbles: true }));
});

// --- Live ----------------------------------------------------------------------------------------------

function onMessage(kind, m, actorId) {
  const thread = m.task_id === null ? team : comment?.taskId === m.task_id ? comment : null;
  if (kind === "message.created") {
    if (m.task_id !== null) {
      comments.set(m.task_id, (comments.get(m.task_id) ?? 0) + 1);
      if (m.author.id !== me) tasksUnread.set(m.task_id, (tasksUnread.get(m.task_id) ?? 0) + 1);
      decorateCard(m.task_id);
    }
    if (thread && m.author.id !== me) thread.setUnread(thread.unread + 1);
  } else if (kind === "message.deleted") {
    // Removed unread by her: no longer unread.
    const key = m.task_id === null ? team.key : `task:${m.task_id}`;
    const wasUnread = m.author.id !== me && m.id > position(key, me);
    if (m.task_id !== null) {
      comments.set(m.task_id, Math.max(0, (comments.get(m.task_id) ?? 0) - 1));
      if (wasUnread) tasksUnread.set(m.task_id, Math.max(0, (tasksUnread.get(m.task_id) ?? 0) - 1));
      decorateCard(m.task_id);
    }
    if (thread && wasUnread) thread.setUnread(thread.unread - 1);
  }
  if (!thread) return;
  thread.upsert(m);
  if (kind === "message.created" && actorId !== me) thread.maybeMarkRead();
}

document.addEventListener("careteam:plan-event", ({ detail: event }) => {
  const { kind, data } = event;
  if (!data || typeof kind !== "string") return;
  if (kind.startsWith("message.") && kind !== "message.seen" && Number.isInteger(data.id)) {
    onMessage(kind, data, event.actor_id);
  } else if (kind === "message.seen") {
    setPosition(data.thread, data.user_id, data.up_to);
    for (const thread of [team, comment]) if (thread?.key === data.thread) thread.refreshSeen();
  } else if (kind.startsWith("task.") && Number.isInteger(data.id)) {
    linkTask(data);
    decorateCard(data.id);
  } else if (kind === "team.updated" && Array.isArray(data.members)) {
    members = data.members.map((m) => ({ user_id: m.user_id, username: m.username, display_name: m.display_name, discipline: m.discipline }));
  }
});

// Her own reads, from this tab or another: the counts as the server has them.
document.addEventListener("careteam:inbox", ({ detail: event }) => {
  if (event.kind !== "messages.read" || !event.data) return;
  const read = event.data;
  if (read.all) {
    let onTasks = 0;
    for (const taskId of tasks.keys()) {
      const n = read.tasks?.[String(taskId)] ?? 0;
      onTasks += n;
      tasksUnread.set(taskId, n);
      decorateCard(taskId);
    }
    team.setUnread((read.plans?.[String(planId)] ?? 0) - onTasks);
    setPosition(team.key, me, team.newestId());
    team.refreshSeen();
    return;
  }
  if (read.plan_id !== planId) return;
  setPosition(read.thread, me, read.last_read_id);
  if (read.task_id === null) team.setUnread(read.thread_unread);
  else if (comment?.taskId === read.task_id) comment.applyRead(read);
  else {
    tasksUnread.set(read.task_id, read.thread_unread);
    decorateCard(read.task_id);
  }
});

// --- Links to a message (#message-N) or a task's comments (#task-N) ------------------------------------

async function followHash() {
  const match = /^#(message|task)-(\d+)$/.exec(location.hash);
  if (!match) return;
  const id = Number(match[2]);
  if (match[1] === "task") {
    const card = document.getElementById(`task-${id}`);
    if (!card) {
      team.status.textContent = "That task is not on this board.";
      return;
    }
    document.addEventListener("careteam:comments-loaded", (e) => e.target.scrollIntoView({ block: "start" }), { once: true });
    card.querySelector('[data-action="edit"]')?.click();
    return;
  }
  let el = await team.find(id);
  if (!el) {
    // Not in the team thread: a task's comment (a card's "From a message")? Open its task on it.
    const asked = await api("GET", `/api/v1/messages/${id}`);
    if (asked.ok && asked.body.plan_id === planId && asked.body.task_id !== null) {
      const loaded = new Promise((resolve) => {
        document.addEventListener("careteam:comments-loaded", resolve, { once: true });
      });
      const card = document.getElementById(`task-${asked.body.task_id}`);
      card?.querySelector('[data-action="edit"]')?.click();
      if (card) {
        await loaded;
        el = (await comment?.find(id)) ?? null;
      }
    }
  }
  if (!el) {
    team.status.textContent = "That message was not found: it may have been removed, or is no longer on this plan.";
    teamRoot.scrollIntoView({ block: "start" });
    return;
  }
  for (const other of document.querySelectorAll(".message.is-highlighted")) other.classList.remove("is-highlighted");
  el.classList.add("is-highlighted");
  el.scrollIntoView({ block: "center" });
  el.focus({ preventScroll: true });
}

window.addEventListener("hashchange", followHash);

// --- Start -------------------------------------------------------------------------------------------

for (const taskId of tasks.keys()) decorateCard(taskId);
teamRoot.dataset.ready = "true";
// After board.js has started (its module runs after this one, and both before the page's "load"): a #task-N
// link opens the card through board.js's handlers, which a click before then would miss.
if (document.readyState === "complete") followHash();
else window.addEventListener("load", followHash, { once: true });
