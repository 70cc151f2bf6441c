// The Messages page (/messages): its conversations and the care plan threads with unread messages follow the
// clinician's stream "user:<id>" through inbox.js's `careteam:inbox` events (no second subscription). When a
// message arrives or she reads some, the page's two lists are fetched again from the server, which renders
// them (every name and subject escaped there), and swapped in. An ES module, no build step.

const KINDS = new Set(["messages.unread", "messages.read", "conversation.unread", "conversation.read"]);
const SECTIONS = ["conversations-section", "threads-section"];

let fetching = false;
let fetchAgain = false;

async function refresh() {
  if (fetching) {
    fetchAgain = true;
    return;
  }
  fetching = true;
  try {
    do {
      fetchAgain = false;
      let response;
      try {
        response = await fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
      } catch {
        return;
      }
      if (!response.ok) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const id of SECTIONS) {
        const fresh = page.getElementById(id);
        const shown = document.getElementById(id);
        // Keep the focus where it is: swap the lists, not the section (its "Mark all read" form stays).
        for (const list of ["conversation-list", "thread-list"]) {
          const next = fresh?.querySelector(`#${list}`);
          const current = shown?.querySelector(`#${list}`);
          if (next && current) current.replaceChildren(...[...next.children].map((n) => document.importNode(n, true)));
        }
        const nextEmpty = fresh?.querySelector(".empty");
        const empty = shown?.querySelector(".empty");
        if (nextEmpty && empty) empty.hidden = nextEmpty.hidden;
      }
      document.getElementById("messages-live").dataset.refreshed = String(Date.now());
    } while (fetchAgain);
  } finally {
    fetching = false;
  }
}

document.addEventListener("careteam:inbox", ({ detail: event }) => {
  if (KINDS.has(event.kind)) refresh();
});
document.addEventListener("careteam:inbox-resync", refresh);
