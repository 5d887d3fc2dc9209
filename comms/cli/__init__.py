"""The plumbing every package's commands share (`context`: the console, settings that fail
cleanly, `--now`). The `comms` command itself is assembled in `comms.app.cli`."""
