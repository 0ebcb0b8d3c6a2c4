"""The receiver benchmark's yardstick: a bare Flask endpoint that answers 202 and does nothing.

    gunicorn 'bench.bare_app:create_app()'

Same route and same gunicorn settings as the real receiver, but no signature check, no
storing and no queueing: the difference in throughput is what those cost.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request


def create_app() -> Flask:
    app = Flask(__name__, static_folder=None)

    @app.post("/webhooks/github")
    def github_webhook() -> tuple[Response, int]:
        request.get_data()  # read the body, as any endpoint does
        return jsonify(status="queued"), 202

    return app
