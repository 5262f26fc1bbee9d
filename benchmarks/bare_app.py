"""The baseline of the API benchmark: a bare Flask endpoint under the same gunicorn config."""

from __future__ import annotations

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/ping")
def ping():
    return jsonify({"success": True, "code": 200, "message": "Success", "data": {"ok": True}})
