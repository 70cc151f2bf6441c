// Times as a clinician reads them, in her own time zone: "Today 14:05", "3 Dec, 09:30", "3 Dec 2025, 09:30".
// Shared by the board (board.js: its activity) and its threads (thread.js). An ES module, no build step.

export const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

export function formatWhen(iso) {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  const time = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const now = new Date();
  if (at.toDateString() === now.toDateString()) return `Today ${time}`;
  const date = `${at.getDate()} ${MONTHS[at.getMonth()]}`;
  return at.getFullYear() === now.getFullYear() ? `${date}, ${time}` : `${date} ${at.getFullYear()}, ${time}`;
}
