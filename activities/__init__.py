"""Temporal activities: methods on classes built with their clients (activities.cold:
`ColdActivities(ColdOperations(...))`) that run the operations in `scheduler/cold/` in
bounded rounds with heartbeats (activities.heartbeat)."""
