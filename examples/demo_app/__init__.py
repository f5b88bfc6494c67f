"""A tiny app for `bash scripts/demo.sh`: one job to enqueue, one the scheduler runs on its own."""
