// bench-jobs: call(method, args) for pages, like frappe.call.
// POSTs the arguments as JSON to /api/method/<method> and resolves to the answer ({message: ...}).
// The dashboard session cookie authenticates; its CSRF token is read from the bj_csrf cookie.
// A failed call rejects with an Error carrying .status, .exc_type and .response.
(function (global) {
  "use strict";

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)bj_csrf=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function call(method, args, options) {
    if (typeof method === "object" && method !== null) { // frappe.call({method, args}) form
      options = method;
      args = method.args;
      method = method.method;
    }
    options = options || {};
    var headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "X-Frappe-CSRF-Token": csrfToken()};
    if (options.site) { headers["X-Frappe-Site-Name"] = options.site; }
    return fetch("/api/method/" + encodeURI(method), {
      method: options.type || "POST", headers: headers, credentials: "same-origin",
      body: JSON.stringify(args || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) {
          var error = new Error(body.exception || ("HTTP " + response.status));
          error.status = response.status;
          error.exc_type = body.exc_type;
          error.response = body;
          throw error;
        }
        if (typeof options.callback === "function") { options.callback(body); }
        return body;
      });
    });
  }

  global.bench_jobs = global.bench_jobs || {};
  global.bench_jobs.call = call;
  global.call = global.call || call;
})(window);
