// The patient page's "New care plan" form (careteam/plans/pages.py: create_plan). An ES module, no build step.
//
// Without JavaScript the form has three goal rows; this adds "Add another goal", which appends an empty
// row (a copy of the last one, its ids and "Goal N" label renumbered) up to the server's limit of 20.

const MAX_GOALS = 20;
const form = document.getElementById("plan-form");
const rows = document.getElementById("plan-goal-rows");
const addButton = form?.querySelector('[data-action="add-goal-row"]');

function renumber(row, index) {
  for (const el of row.querySelectorAll("[id]")) el.id = el.id.replace(/^plan-goal-\d+-/, `plan-goal-${index}-`);
  for (const el of row.querySelectorAll("[for]")) el.htmlFor = el.htmlFor.replace(/^plan-goal-\d+-/, `plan-goal-${index}-`);
  for (const el of row.querySelectorAll("[aria-describedby]")) el.removeAttribute("aria-describedby");
  const label = row.querySelector('label[for$="-goal_description"]');
  if (label) label.textContent = `Goal ${index + 1}`;
}

function addRow() {
  const all = rows.querySelectorAll('[data-part="goal-row"]');
  if (all.length >= MAX_GOALS) return;
  const row = all[all.length - 1].cloneNode(true);
  for (const notice of row.querySelectorAll(".field__error")) notice.remove();
  for (const field of row.querySelectorAll(".field--invalid")) field.classList.remove("field--invalid");
  for (const input of row.querySelectorAll("input")) {
    input.value = "";
    input.removeAttribute("aria-invalid");
  }
  renumber(row, all.length);
  rows.append(row);
  addButton.hidden = all.length + 1 >= MAX_GOALS;
  row.querySelector("input").focus();
}

if (form && rows && addButton) {
  addButton.hidden = rows.querySelectorAll('[data-part="goal-row"]').length >= MAX_GOALS;
  addButton.addEventListener("click", addRow);
}
