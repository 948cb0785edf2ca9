"""The web console: server-rendered pages on the API, for the people who search, verify
hits and audit by hand (``/console``). Each page calls the API's own route functions, so
its checks, scoping and audit are the API's; only the session travels in a cookie.
"""

from pipelines.console.pages import install_console

__all__ = ["install_console"]
