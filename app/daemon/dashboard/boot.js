// Loads the JS client and the dashboard with the same ?token= this page was opened with (a page cannot
// attach a header to the requests it makes for its scripts; the daemon checks the token on each one).
const query = new URL(import.meta.url).search;
const [{ CueKitClient }, { startDashboard }] = await Promise.all([
  import(`/client/index.js${query}`),
  import(`/dashboard/app.js${query}`),
]);
const token = new URLSearchParams(query).get("token") ?? undefined;
const scheme = location.protocol === "https:" ? "wss:" : "ws:";
startDashboard(new CueKitClient(`${scheme}//${location.host}/`, { token, name: "dashboard" }), document);
