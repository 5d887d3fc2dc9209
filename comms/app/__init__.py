"""The composition root: the only place that imports every package.

`cli` is the `comms` command (each package adds its commands), `web` the web app (each
package adds its routes), `service` the long-running processes (`comms run`, `comms worker`,
`comms web`), `actors` every package's dramatiq actors, and `registry` every package's tables.
"""
