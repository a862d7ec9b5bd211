"""Recurring schedules: definitions and their occurrences as ordinary events (README,
"Recurring schedules")."""
