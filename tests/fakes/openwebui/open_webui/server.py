"""The stand-in Open WebUI server: the HTTP surface deployer talks to, standard library only.

Faithful to upstream (backend/open_webui: env.py, config.py, routers/auths.py,
main.py) where deployer depends on it:

- ``GET /health`` -> ``{"status": true}``.
- ``GET /api/config`` -> ``{"status": true, "name", "version", "features":
  {"auth", "enable_signup", "enable_login_form"}}`` plus ``"onboarding": true``
  only while no account exists.
- ``POST /api/v1/auths/signup {name, email, password}``: the first account is
  "admin" (then signup is switched off, and that is saved), later ones get
  DEFAULT_USER_ROLE ("pending"). With ENABLE_SIGNUP off: 403, except for the
  first account when ENABLE_INITIAL_ADMIN_SIGNUP is on. 400 for a taken
  e-mail, a malformed one, or a password over 72 bytes.
- ``POST /api/v1/auths/signin {email, password}`` -> the session user with
  ``token`` (an HS256 JWT signed with WEBUI_SECRET_KEY), or 400.
- ``GET /api/v1/auths/`` (Bearer token) -> the session user, 401 when the
  token's signature does not match this server's WEBUI_SECRET_KEY.
- ``GET /ollama/api/tags`` (signed in) -> the models of every
  OLLAMA_BASE_URLS / OLLAMA_BASE_URL backend merged (unreachable ones skipped).
- ``GET /ollama/config`` (admin) -> ``{"ENABLE_OLLAMA_API", "OLLAMA_BASE_URLS"}``.
- Persistent config: settings saved by the server (ENABLE_SIGNUP after the
  first signup) win over the environment at the next start unless
  ENABLE_PERSISTENT_CONFIG=false.

State lives in DATA_DIR/webui.json (upstream: webui.db), so it survives a
container recreated on the same volume.

Stand-in knobs (tests set them through the product's ``env:``):
  FAKE_OPENWEBUI_START_SECONDS  wait this long before listening (slow first start)
  FAKE_OPENWEBUI_UNHEALTHY=1    /health answers 503 {"status": false}
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

VERSION = "0.6.5"
ACCESS_PROHIBITED = "You do not have permission to access this resource. Please contact your administrator for assistance."
INVALID_CRED = "The email or password provided is incorrect. Please check for typos and try logging in again."


def _flag(name: str, default: str) -> bool:
    return os.environ.get(name, default).lower() == "true"


def data_dir() -> Path:
    if os.environ.get("DATA_DIR"):
        return Path(os.environ["DATA_DIR"])
    pkg = Path(__file__).resolve().parent
    return pkg / "data" if _flag("FROM_INIT_PY", "False") else pkg.parent / "data"


class State:
    """Accounts and saved settings in DATA_DIR/webui.json."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {"users": [], "config": {}}
        saved = self.data["config"] if _flag("ENABLE_PERSISTENT_CONFIG", "True") else {}
        env_signup = _flag("ENABLE_SIGNUP", "True") if _flag("WEBUI_AUTH", "True") else False
        self.enable_signup: bool = saved.get("ui.enable_signup", env_signup)
        urls = os.environ.get("OLLAMA_BASE_URLS", "") or os.environ.get("OLLAMA_BASE_URL", "")
        self.ollama_urls: list[str] = saved.get("ollama.base_urls", [u.rstrip("/") for u in urls.split(";") if u])

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data))
        os.replace(tmp, self.path)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_token(user_id: str, key: str) -> str:
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps({"id": user_id}).encode())
    sig = hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}"


def read_token(token: str, key: str) -> str | None:
    try:
        head, body, sig = token.split(".")
        want = hmac.new(key.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(_b64(want), sig):
            return None
        return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["id"]
    except (ValueError, KeyError):
        return None


def _hash(password: str, salt: str) -> str:
    return hashlib.sha256((salt + password).encode()).hexdigest()


class Handler(BaseHTTPRequestHandler):
    server_version = "uvicorn"
    state: State
    key: str

    def log_message(self, fmt: str, *args: Any) -> None:
        sys.stderr.write(f"INFO:     {self.client_address[0]} - {fmt % args}\n")

    def _send(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _json(self) -> dict[str, Any]:
        n = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            body = None
        return body if isinstance(body, dict) else {}

    def _user(self) -> dict[str, Any] | None:
        auth = self.headers.get("Authorization", "")
        uid = read_token(auth[7:], self.key) if auth.startswith("Bearer ") else None
        return next((u for u in self.state.data["users"] if u["id"] == uid), None)

    def _session(self, user: dict[str, Any]) -> dict[str, Any]:
        return {"token": make_token(user["id"], self.key), "token_type": "Bearer", "expires_at": None,
                "id": user["id"], "email": user["email"], "name": user["name"], "role": user["role"],
                "profile_image_url": "/user.png", "permissions": {}}

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?")[0]
        if path == "/health":
            if os.environ.get("FAKE_OPENWEBUI_UNHEALTHY") == "1":
                return self._send(503, {"status": False})
            return self._send(200, {"status": True})
        if path == "/api/config":
            body: dict[str, Any] = {} if self.state.data["users"] else {"onboarding": True}
            body.update(status=True, name="Open WebUI", version=VERSION, features={
                "auth": _flag("WEBUI_AUTH", "True"), "enable_signup": self.state.enable_signup, "enable_login_form": True})
            return self._send(200, body)
        user = self._user()
        if user is None:
            return self._send(401, {"detail": "Not authenticated"})
        if path in ("/api/v1/auths/", "/api/v1/auths"):
            return self._send(200, self._session(user))
        if user["role"] == "pending":
            return self._send(401, {"detail": ACCESS_PROHIBITED})
        if path == "/ollama/api/tags":
            return self._send(200, {"models": self._ollama_models()})
        if path == "/ollama/config" and user["role"] == "admin":
            return self._send(200, {"ENABLE_OLLAMA_API": True, "OLLAMA_BASE_URLS": self.state.ollama_urls, "OLLAMA_API_CONFIGS": {}})
        return self._send(404, {"detail": "Not Found"})

    def _ollama_models(self) -> list[dict[str, Any]]:
        merged: dict[str, dict[str, Any]] = {}
        for idx, url in enumerate(self.state.ollama_urls):
            try:
                with urllib.request.urlopen(f"{url}/api/tags", timeout=5) as resp:
                    models = json.loads(resp.read()).get("models", [])
            except (OSError, ValueError):
                continue  # upstream logs the error and leaves the backend out
            for m in models:
                entry = merged.setdefault(m["model"] if "model" in m else m["name"], {**m, "urls": []})
                entry["urls"].append(idx)
        return list(merged.values())

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?")[0]
        form = self._json()
        if path == "/api/v1/auths/signin":
            email = str(form.get("email", "")).lower()
            user = next((u for u in self.state.data["users"] if u["email"] == email), None)
            if user is None or _hash(str(form.get("password", "")), user["salt"]) != user["hash"]:
                return self._send(400, {"detail": INVALID_CRED})
            return self._send(200, self._session(user))
        if path == "/api/v1/auths/signup":
            return self._signup(form)
        return self._send(404, {"detail": "Not Found"})

    def _signup(self, form: dict[str, Any]) -> None:
        st = self.state
        with st.lock:
            has_users = bool(st.data["users"])
            if not st.enable_signup and (has_users or not _flag("ENABLE_INITIAL_ADMIN_SIGNUP", "False")):
                return self._send(403, {"detail": ACCESS_PROHIBITED})
            email = str(form.get("email", "")).lower()
            password = str(form.get("password", ""))
            if not re.fullmatch(r"[^@\s]+@[^@\s]+", email):
                return self._send(400, {"detail": "Invalid email format"})
            if any(u["email"] == email for u in st.data["users"]):
                return self._send(400, {"detail": "Uh-oh! This email is already registered."})
            if len(password.encode()) > 72:
                return self._send(400, {"detail": "Password too long"})
            salt = uuid.uuid4().hex
            user = {"id": str(uuid.uuid4()), "email": email, "name": str(form.get("name", "")), "salt": salt,
                    "hash": _hash(password, salt), "role": "admin" if not has_users else os.environ.get("DEFAULT_USER_ROLE", "pending")}
            st.data["users"].append(user)
            if not has_users:
                st.enable_signup = False
                st.data["config"]["ui.enable_signup"] = False
            st.save()
        return self._send(200, self._session(user))


def run(host: str, port: int) -> None:
    delay = float(os.environ.get("FAKE_OPENWEBUI_START_SECONDS", "0") or 0)
    if delay:
        time.sleep(delay)
    key = os.environ.get("WEBUI_SECRET_KEY", os.environ.get("WEBUI_JWT_SECRET_KEY", "t0p-s3cr3t"))
    if _flag("WEBUI_AUTH", "True") and key == "":
        raise SystemExit("ValueError: Required environment variable not found. Terminating now.")
    state = State(data_dir() / "webui.json")
    handler = type("BoundHandler", (Handler,), {"state": state, "key": key})
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("Server", (ThreadingHTTPServer,), {"address_family": family, "daemon_threads": True})
    server = server_class((host, port), handler)
    print(f"INFO:     Uvicorn running on http://{host}:{port} (Press CTRL+C to quit)", file=sys.stderr, flush=True)
    server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="open_webui.server")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)
    ns = parser.parse_args(argv)
    run(ns.host, ns.port)


if __name__ == "__main__":
    main()
