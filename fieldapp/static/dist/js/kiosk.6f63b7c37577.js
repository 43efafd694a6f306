// Participant pages on a shared device. Nothing here stores answers anywhere.
"use strict";
(function () {
  // A page restored from the back/forward cache could show the previous person's screen:
  // load it afresh from the server instead (which answers with the start screen).
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      window.location.reload();
    }
  });
  document.querySelectorAll("form").forEach(function (form) {
    form.setAttribute("autocomplete", "off");
  });
  // After the receipt, go back to the start screen by itself.
  var receipt = document.querySelector(".receipt[data-return-after]");
  if (receipt) {
    window.setTimeout(function () {
      window.location.replace(receipt.dataset.returnTo);
    }, Number(receipt.dataset.returnAfter) * 1000);
    return;
  }
  // A device left idle forgets the unsent answers and returns to the start.
  var idle = Number(document.body.dataset.idleSeconds || 0);
  var reset = document.getElementById("idle-reset");
  if (!idle || !reset) {
    return;
  }
  var timer;
  function restart() {
    window.clearTimeout(timer);
    timer = window.setTimeout(function () { reset.submit(); }, idle * 1000);
  }
  ["keydown", "pointerdown", "input", "scroll"].forEach(function (name) {
    document.addEventListener(name, restart, { passive: true });
  });
  restart();
})();
