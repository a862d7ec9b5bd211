"""The command line, `hybrid-scheduler` (cli.main): an entry point on top of the core.

Each command imports what it uses when it runs, so `hybrid-scheduler --help` loads
nothing but argparse: cli.roles (`serve`, `worker`), cli.dev (`dev`, on the embedded
services of devstack), cli.migrate, cli.sql; cli.logs sets up logging for all of them.
"""
