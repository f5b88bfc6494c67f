"""A stand-in `frappe` package for tests/e2e/test_migration.py only (never on the test suite's path): just
enough for a plain RQ SimpleWorker to run jobs that `frappe.enqueue` queued, in place of Frappe's worker."""
