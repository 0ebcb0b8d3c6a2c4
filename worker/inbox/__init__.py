"""The webhook inbox: every state change of `webhook_deliveries`, and nothing else.

`store` (the receiver's path: insert and publish in one transaction), `status` (the worker's
marks), `sweep` (pending rows to queue messages, backoff, dead), `queries` (what operators
ask), `records` (a stored delivery and its JSON shape), `publish` (fail-fast broker publishes).
"""
