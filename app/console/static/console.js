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
