"""The change feed's readers: queries by cursor, the LISTEN/poll follower, retention.

The writer is the reconcile itself (`worker.sync.change_log`), in the transaction that changes
the rows.
"""
