"""The background roles a SchedulerService can run in its process.

Apart from scheduler.service so that the command line can list them without loading
the service and its clients.
"""

ROLES = ("executor", "consumer", "sync", "recurring")
