// Who may move a task, read from the rules the board page ships (careteam/plans/rules.py `rules_json`, the
// same for every viewer) for the viewer's own place on the care team (the board's `members`, which follow
// live). Pure: no DOM, no page state, so a browser test can walk the whole table through it
// (tests/browser/test_task_moves.py). docs/board.md has the table in words.

// Does this viewer fit one of the people a rule names ("team", "assignee", "lane", "physician", "lead",
// "author": careteam/plans/rules.py `Who`)?
export function fits(who, { members, me }, task) {
  const member = members.find((m) => m.user_id === me);
  if (!member || !who) return false;
  const lead = member.role === "lead" || member.discipline === "ipm_lead";
  const people = {
    team: true,
    assignee: task.assignee_id !== null && task.assignee_id === me,
    lane: member.discipline === task.discipline,
    physician: member.discipline === "physician",
    lead,
    author: task.author_id !== null && task.author_id !== undefined && task.author_id === me,
  };
  return who.some((w) => people[w] === true);
}

// The task's readiness gates not yet passed (completed), as tasks ({id, title}) from the board's tasks (a
// Map by id); a gate not on this page counts as open, as the server would refuse.
export function openGates(rules, task, tasks) {
  return (task.gates ?? [])
    .map((id) => tasks?.get(id) ?? { id, title: `task ${id}`, status: "" })
    .filter((gate) => gate.status !== rules.gate_passed);
}

// Why a move waits for the task's gates (rules.py `gate_refusal`'s words); null if it does not.
export function gateRefusal(rules, task, to, tasks) {
  if (!(rules.gated ?? []).includes(to)) return null;
  const open = openGates(rules, task, tasks);
  if (!open.length) return null;
  return `Waiting for ${open.length === 1 ? "its gate" : "its gates"} ${open.map((g) => `\u201c${g.title}\u201d`).join(", ")}.`;
}

// May this viewer move the task to this status? Only if the state machine allows it, its rule fits her, and
// (to ready, in progress or completed) every readiness gate is completed (viewer.tasks: the board's tasks).
export function mayMove(rules, viewer, task, to) {
  if (gateRefusal(rules, task, to, viewer.tasks) !== null) return false;
  return fits(rules.transitions[task.status]?.[to], viewer, task);
}

// The status a move into a board column takes, if this viewer may make it; null for the card's own column
// or a move she may not make.
export function columnMove(rules, viewer, task, column, columnOf) {
  if (columnOf[task.status] === column) return null;
  const to = rules.column_default_status[column];
  return mayMove(rules, viewer, task, to) ? to : null;
}

// Why a column the state machine allows is not offered to her: the rule in words; null if it is offered or
// the state machine does not allow it at all (then nothing is said: no one could).
export function columnRefusal(rules, viewer, task, column, columnOf) {
  if (columnOf[task.status] === column) return null;
  const to = rules.column_default_status[column];
  const who = rules.transitions[task.status]?.[to];
  if (!who) return null;
  const gated = gateRefusal(rules, task, to, viewer.tasks);
  if (gated !== null) return gated;
  if (fits(who, viewer, task)) return null;
  return rules.words[to] ?? null;
}

export function mayChangeLane(rules, viewer, task) {
  return fits(rules.change_lane, viewer, task);
}
