"""`make bench`: the hot path's speed and memory on this machine, as JSON."""
