"""The webhook inbox: the receiver's store path, status changes, the sweeper, operator queries."""
