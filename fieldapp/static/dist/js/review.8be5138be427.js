// Contributions pages, as an enhancement: every link and form works without this file.
// - j / k open the next / previous contribution of the list (the links marked data-shortcut);
//   ignored while typing in a field, and with Ctrl, Alt or Meta held.
// - "Select all on this page" ticks every contribution of the list's page.
"use strict";
(function () {
  function typing(target) {
    if (!target || !target.tagName) {
      return false;
    }
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey || typing(event.target)) {
      return;
    }
    var key = event.key === "J" || event.key === "K" ? event.key.toLowerCase() : event.key;
    if (key !== "j" && key !== "k") {
      return;
    }
    var link = document.querySelector("a[data-shortcut='" + key + "']");
    if (link) {
      event.preventDefault();
      window.location.href = link.href;
    }
  });
  document.querySelectorAll("input[data-select-all]").forEach(function (all) {
    var form = all.form;
    if (!form) {
      return;
    }
    var boxes = form.querySelectorAll("input[type=checkbox][name=key]");
    all.hidden = false;
    all.addEventListener("change", function () {
      boxes.forEach(function (box) { box.checked = all.checked; });
    });
    boxes.forEach(function (box) {
      box.addEventListener("change", function () {
        var ticked = Array.prototype.filter.call(boxes, function (b) { return b.checked; }).length;
        all.checked = ticked === boxes.length;
        all.indeterminate = ticked > 0 && ticked < boxes.length;
      });
    });
  });
})();
