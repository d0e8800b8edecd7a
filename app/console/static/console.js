// smsdesk console: the little htmx cannot do declaratively. Loaded as a file (the CSP forbids
// inline script). Keeps the thread scrolled to the newest text after every swap.
document.addEventListener("htmx:afterSettle", function (event) {
  var threads = document.querySelectorAll(".thread, .phone .messages");
  threads.forEach(function (el) { el.scrollTop = el.scrollHeight; });
});
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".thread, .phone .messages").forEach(function (el) {
    el.scrollTop = el.scrollHeight;
  });
});
// The flash area is at the top of the page, but an agent sending a reply is scrolled down to
// the composer: bring a refusal or the quiet-hours offer into view, else nothing seems to happen.
var shownFlash = null;
document.addEventListener("htmx:afterSettle", function () {
  var flash = document.getElementById("flash");
  if (!flash || flash === shownFlash) { return; }
  shownFlash = flash;  // a new element: the response swapped a message in
  if (flash.classList.contains("error") || flash.classList.contains("warn")) {
    flash.scrollIntoView({ block: "nearest" });
  }
});
// A live update that was in flight when the page moved on (resolving goes to the next
// conversation) answers for a page that is gone: its out-of-band parts (the head, the side
// panel) would land on the new page by id and show the previous customer. Drop them.
document.addEventListener("htmx:oobBeforeSwap", function (event) {
  var part = event.detail.fragment && event.detail.fragment.firstElementChild;
  var from = part && part.getAttribute("data-conversation");
  var here = event.detail.target && event.detail.target.getAttribute("data-conversation");
  if (from && here && from !== here) { event.detail.shouldSwap = false; }
});
// Live updates re-render the thread (a delivery receipt, a new text): keep open what the agent
// opened (an AI view, a knowledge entry's body), or it snaps shut while they read it.
var openDetails = [];
document.addEventListener("htmx:beforeSwap", function (event) {
  var target = event.detail.target;
  openDetails = [];
  if (!target || !target.querySelectorAll) { return; }
  target.querySelectorAll("details[open][id]").forEach(function (el) { openDetails.push(el.id); });
});
document.addEventListener("htmx:afterSwap", function () {
  openDetails.forEach(function (id) {
    var el = document.getElementById(id);
    if (el && el.tagName === "DETAILS") { el.open = true; }
  });
  openDetails = [];
});
// The queue's "select all" box ticks every row's box (the rows' boxes survive live updates:
// they are hx-preserve'd; this one starts unticked on every update).
document.addEventListener("change", function (event) {
  var box = event.target;
  if (!box || box.id !== "pick-all") { return; }
  document.querySelectorAll("#queue-table input[name=item]").forEach(function (row) {
    row.checked = box.checked;
  });
});
// After a resolve the page names the item just resolved (?done=...): once read, the address
// loses it, so a reload or a bookmark does not say it again.
function forgetDone() {
  var url = new URL(window.location.href);
  if (!url.searchParams.has("done")) { return; }
  url.searchParams.delete("done");
  window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
}
document.addEventListener("DOMContentLoaded", forgetDone);
document.addEventListener("htmx:pushedIntoHistory", forgetDone);
