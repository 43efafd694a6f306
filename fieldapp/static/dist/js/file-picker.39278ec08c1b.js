// The browser's own file button speaks the browser's language, not the page's. With scripts
// on, show our translated button and list the chosen files instead; without scripts the
// native control keeps working.
"use strict";
document.querySelectorAll("input.file-input").forEach(function (input) {
  var button = input.parentElement.querySelector("label.file-button[for='" + input.id + "']");
  var output = document.getElementById(input.id + "-chosen");
  if (!button || !output) {
    return;
  }
  input.classList.add("visually-hidden");
  button.hidden = false;
  function show() {
    var names = Array.prototype.map.call(input.files, function (file) { return file.name; });
    output.textContent = names.length
      ? output.dataset.some.replace("__NAMES__", names.join(output.dataset.separator))
      : output.dataset.none;
  }
  input.addEventListener("change", show);
  show();
});
