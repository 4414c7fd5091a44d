// The draft editor: each field checked as it is typed (the problems under their fields, at their place), and
// the impact tables sorted by a click on a heading. Nothing is saved here; the form's button saves.
(function () {
  "use strict";
  var form = document.querySelector("form.editor");
  var timer = null, asked = 0;

  function show(problems) {
    document.querySelectorAll(".field-problem").forEach(function (p) { p.hidden = true; p.textContent = ""; });
    var general = document.getElementById("live-problems");
    if (general) { general.textContent = ""; }
    problems.forEach(function (problem) {
      var under = problem.field && document.querySelector('.field-problem[data-for="' + CSS.escape(problem.field) + '"]');
      var where = problem.position ? form.dataset.character + " " + problem.position + ": " : "";
      if (under) {
        under.textContent = where + problem.message;
        under.hidden = false;
      } else if (general) {
        var item = document.createElement("li");
        item.textContent = (problem.line ? form.dataset.line + " " + problem.line + ": " : "") + problem.message;
        general.appendChild(item);
      }
    });
    form.dataset.checked = String(asked);
  }

  function check() {
    var mine = ++asked;
    var data = new FormData(form);
    fetch(form.dataset.check, {method: "POST", body: data, credentials: "same-origin"})
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (found) { if (found && mine === asked) { show(found.problems); } })
      .catch(function () { /* the save still checks everything */ });
  }

  if (form && form.dataset.check) {
    form.addEventListener("input", function (event) {
      if (event.target.name === "text") { return; }  // the full text is checked when saved
      clearTimeout(timer);
      timer = setTimeout(check, 300);
    });
  }

  function sortBy(table, column) {
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var down = table.dataset.sorted === String(column) && table.dataset.order !== "desc";
    rows.sort(function (a, b) {
      var x = a.cells[column], y = b.cells[column];
      var p = x.dataset.sort !== undefined ? parseFloat(x.dataset.sort) : NaN;
      var q = y.dataset.sort !== undefined ? parseFloat(y.dataset.sort) : NaN;
      var order = (!isNaN(p) && !isNaN(q)) ? p - q : x.textContent.localeCompare(y.textContent);
      return down ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    table.dataset.sorted = String(column);
    table.dataset.order = down ? "desc" : "asc";
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell, column) {
      cell.tabIndex = 0;
      cell.setAttribute("aria-sort", "none");
      cell.addEventListener("click", function () { sortBy(table, column); });
      cell.addEventListener("keydown", function (event) { if (event.key === "Enter") { sortBy(table, column); } });
    });
  });
})();
