"""A tiny app for `bash scripts/demo.sh`: one job to enqueue, one event the scheduler runs every minute."""
