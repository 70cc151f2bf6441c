// Small form helpers for server-rendered pages (no inline scripts: the CSP allows files from /static only).
// - <form data-confirm="Question?">: asks before submitting (removing a team member, deactivating an account).
// - Any form: its submit buttons are disabled while it is being sent, so a double tap submits once.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  const question = form.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  if (form.method.toLowerCase() === "post") {
    for (const button of form.querySelectorAll("button[type=submit]")) {
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
    }
  }
});

// Pages restored from the back/forward cache keep disabled buttons: enable them again.
window.addEventListener("pageshow", (event) => {
  if (!event.persisted) return;
  for (const button of document.querySelectorAll("button[aria-busy=true]")) {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
});
