"""The IMAP source: a listener per mailbox that stores new mail raw, resynchronizes by UID on
every connect, waits in IDLE, and moves processed mail out of the folder.

Modules: `connection` (connect, capabilities, backoff), `checkpoint` (UIDVALIDITY and last UID
per mailbox), `lease` (one listener per mailbox), `sync` (fetch in batches, store raw),
`disposal` (MOVE, or COPY + \\Deleted + UID EXPUNGE), `listener` (the loop), `cli`
(`comms imap-listen`).
"""
