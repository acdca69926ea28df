"""Container health check: exit 0 when SARK's liveness endpoint answers 2xx, else 1.

Slim images have no curl; this uses only the standard library. The port follows
``SARK_PORT`` so a changed port needs no new health check.
"""

import os
import sys
import urllib.request

port = os.environ.get("SARK_PORT", "8000")
url = f"http://127.0.0.1:{port}/health/live"
try:
    with urllib.request.urlopen(url, timeout=3) as response:
        sys.exit(0 if 200 <= response.status < 300 else 1)
except Exception as exc:
    print(f"unhealthy: {url}: {exc}", file=sys.stderr)
    sys.exit(1)
