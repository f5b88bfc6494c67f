"""The HTTP side of a bench (`bench-jobs serve`): Frappe-style whitelisted methods, a jobs API shaped
like `frappe.get_all("RQ Job")`, and a live dashboard. See docs/web.md."""
