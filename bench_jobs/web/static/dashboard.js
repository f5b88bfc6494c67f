// bench-jobs dashboard: confirmation of actions, live updates by polling /live, the throughput chart.
// Every value from the server is put into the page with textContent, never as HTML.
(function () {
  "use strict";
  var every = parseInt(document.body.getAttribute("data-live-every"), 10) || 2000;
  var SVG = "http://www.w3.org/2000/svg";
  var chartData = null;
  var span = "hour";

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }

  function setState(text) {
    var node = document.getElementById("live-state");
    if (node) { node.textContent = text; }
  }

  // -- confirmation: a form with data-confirm asks first, then sends confirmed=1 ------------------
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (!question) { return; }
    if (!window.confirm(question)) { event.preventDefault(); return; }
    var field = form.querySelector("input[name=confirmed]");
    if (field) { field.value = "1"; }
  });

  function showDone() {
    var done = new URLSearchParams(window.location.search).get("done");
    var main = document.querySelector("main");
    if (done && main) { main.insertBefore(el("p", "Done: " + done, "notice"), main.firstChild); }
  }

  // -- chart ------------------------------------------------------------------------------------------
  function drawChart() {
    var svg = document.getElementById("chart");
    if (!svg || !chartData) { return; }
    var rows = chartData[span] || [];
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    // Drawn in the box's own pixels, so text keeps its size on a phone and on a wide screen.
    var width = Math.max(svg.clientWidth || 600, 200), height = svg.clientHeight || 180, left = 34, bottom = 18;
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    var max = 1;
    rows.forEach(function (r) { max = Math.max(max, r.ok + r.failed + r.retried); });
    var slot = (width - left) / Math.max(rows.length, 1);
    [0, 0.5, 1].forEach(function (f) {
      var y = height - bottom - f * (height - bottom - 8);
      var line = document.createElementNS(SVG, "line");
      line.setAttribute("x1", left); line.setAttribute("x2", width); line.setAttribute("y1", y); line.setAttribute("y2", y);
      svg.appendChild(line);
      var label = document.createElementNS(SVG, "text");
      label.setAttribute("x", 2); label.setAttribute("y", y + 3); label.textContent = String(Math.round(max * f));
      svg.appendChild(label);
    });
    rows.forEach(function (r, i) {
      var y = height - bottom;
      ["ok", "failed", "retried"].forEach(function (kind) {
        var h = (r[kind] / max) * (height - bottom - 8);
        if (h <= 0) { return; }
        var rect = document.createElementNS(SVG, "rect");
        rect.setAttribute("x", left + i * slot + 0.5); rect.setAttribute("width", Math.max(slot - 1, 1));
        rect.setAttribute("y", y - h); rect.setAttribute("height", h); rect.setAttribute("class", kind);
        var title = document.createElementNS(SVG, "title");
        title.textContent = new Date(r.t * 1000).toLocaleString() + ": " + r[kind] + " " + kind;
        rect.appendChild(title);
        svg.appendChild(rect);
        y -= h;
      });
    });
    [0, rows.length - 1].forEach(function (i) {
      if (!rows[i]) { return; }
      var label = document.createElementNS(SVG, "text");
      label.setAttribute("x", i ? width - 2 : left); label.setAttribute("y", height - 4);
      label.setAttribute("text-anchor", i ? "end" : "start");
      label.textContent = new Date(rows[i].t * 1000).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
      svg.appendChild(label);
    });
  }

  document.addEventListener("click", function (event) {
    var tab = event.target.closest ? event.target.closest(".tab") : null;
    if (!tab) { return; }
    span = tab.getAttribute("data-span");
    document.querySelectorAll(".tab").forEach(function (t) { t.setAttribute("aria-pressed", String(t === tab)); });
    drawChart();
  });
  window.addEventListener("resize", drawChart);

  // -- live updates -----------------------------------------------------------------------------------
  function updateOverview(doc) {
    chartData = doc;
    drawChart();
    ["ok", "failed", "retried"].forEach(function (k) {
      var node = document.getElementById("tot-" + k);
      if (node) { node.textContent = String(doc.last_hour[k]); }
    });
    var table = document.getElementById("queues");
    doc.rows.forEach(function (row) {
      var tr = null;
      table.querySelectorAll("tbody tr[data-key]").forEach(function (r) {
        if (r.getAttribute("data-key") === row.site + "|" + row.queue) { tr = r; }
      });
      if (!tr) {
        tr = el("tr");
        tr.setAttribute("data-key", row.site + "|" + row.queue);
        tr.appendChild(el("td", row.site)); tr.appendChild(el("td", row.queue));
        ["queued", "started", "scheduled", "failed", "oldest", "workers"].forEach(function (f) {
          var td = el("td", "", f === "oldest" ? "" : "num"); td.setAttribute("data-field", f); tr.appendChild(td);
        });
        table.querySelector("tbody").appendChild(tr);
      }
      tr.querySelectorAll("[data-field]").forEach(function (td) {
        var target = td.querySelector("a") || td;
        target.textContent = String(row[td.getAttribute("data-field")]);
      });
    });
  }

  function updateJobs(doc) {
    var tbody = document.querySelector("#jobs tbody");
    var total = document.getElementById("jobs-total");
    if (total) { total.textContent = String(doc.total); }
    while (tbody.firstChild) { tbody.removeChild(tbody.firstChild); }
    if (!doc.rows.length) {
      var empty = el("td", "No jobs match."); empty.colSpan = 9;
      tbody.appendChild(el("tr")).appendChild(empty);
    }
    doc.rows.forEach(function (row) {
      var tr = el("tr");
      tr.setAttribute("data-id", row.id);
      var link = el("a", row.id); link.href = "/jobs/" + encodeURIComponent(row.id);
      tr.appendChild(el("td")).appendChild(link);
      tr.appendChild(el("td")).appendChild(el("span", row.status, "status " + row.status));
      tr.appendChild(el("td", row.site));
      tr.appendChild(el("td", row.queue));
      tr.appendChild(el("td")).appendChild(el("code", row.method));
      tr.appendChild(el("td", JSON.stringify(row.kwargs), "args"));
      tr.appendChild(el("td", row.enqueued_at || "—"));
      tr.appendChild(el("td", row.ended_at || "—"));
      tr.appendChild(el("td", row.attempts, "num"));
      tbody.appendChild(tr);
    });
  }

  function updateJob(doc) {
    var job = doc.job;
    if (!job) { setState("this job no longer exists"); return; }
    document.querySelectorAll("#job [data-field]").forEach(function (node) {
      var name = node.getAttribute("data-field");
      var value = job[name];
      if (name === "result") { value = value === null ? "—" : JSON.stringify(value, null, 2); }
      node.textContent = value === null || value === undefined || value === "" ? "—" : String(value);
      if (name === "status") { node.className = "status " + job.status; }
    });
  }

  // Poll `url` (a string, or a function giving it) every `every` ms; returns kick(), which polls now.
  function poll(url, apply) {
    var timer = null;
    function tick() {
      timer = null;
      fetch(typeof url === "function" ? url() : url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (response) {
          if (response.status === 401) { window.location.reload(); throw new Error("logged out"); }
          return response.json();
        })
        .then(function (doc) { apply(doc); setState("live · updated " + new Date().toLocaleTimeString()); })
        .catch(function () { setState("offline · retrying"); })
        .then(function () { timer = window.setTimeout(tick, every); });
    }
    timer = window.setTimeout(tick, every);
    return function kick() {
      if (timer !== null) { window.clearTimeout(timer); tick(); }
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    showDone();
    var initial = document.getElementById("overview-data");
    if (initial) { chartData = JSON.parse(initial.textContent); drawChart(); }
    var chartSite = document.getElementById("chart-site");
    if (document.getElementById("queues")) {
      var kick = poll(function () {
        return "/live?what=overview" + (chartSite && chartSite.value ? "&site=" + encodeURIComponent(chartSite.value) : "");
      }, updateOverview);
      if (chartSite) {  // another site for the chart: fetch it now; the address keeps the choice
        chartSite.addEventListener("change", function () {
          window.history.replaceState(null, "", chartSite.value ? "/?site=" + encodeURIComponent(chartSite.value) : "/");
          kick();
        });
      }
    }
    var jobs = document.getElementById("jobs");
    if (jobs) { poll("/live?" + jobs.getAttribute("data-query"), updateJobs); }
    var job = document.getElementById("job");
    if (job) { poll("/live?what=job&id=" + encodeURIComponent(job.getAttribute("data-id")), updateJob); }
  });
})();
