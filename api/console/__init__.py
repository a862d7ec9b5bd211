"""The operator console: pages under /ui (api.console.pages), served by the API role from
files in this package (static/), talking only to the JSON API of the same origin; its
login session and CSRF token: api.console.session."""
