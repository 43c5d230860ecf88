"""The Open WebUI admin account, created at deploy time through Open WebUI's own API.

Open WebUI makes the first account that signs up its administrator, so an
instance left without one belongs to whoever finds it first. deployer signs
the admin up right after the service is healthy:

- ``POST /api/v1/auths/signin`` with the configured e-mail and password
  answers 200 with ``role: admin``: nothing to do (ok).
- it fails, and ``GET /api/config`` says ``onboarding: true`` (no account
  exists yet): ``POST /api/v1/auths/signup`` creates the admin (changed).
- it fails and accounts exist: deployer refuses. It never resets a password
  or touches other accounts; the message says what to do.

Recent releases can also create an admin from WEBUI_ADMIN_EMAIL /
WEBUI_ADMIN_PASSWORD at startup; older ones ignore those, and the password
would stay readable in `docker inspect` forever, so deployer uses the API,
which every release has. The password only ever travels in request bodies
through the SSH tunnel.

Without a configured password, deployer generates one on the host, once (24
random characters into ``password_file``, mode 0600), and reuses it on later
runs: the admin exists from the first deploy, and whoever may read that file on
the host can sign in. The task reports the file, never the password.
"""

from __future__ import annotations

from deployer.errors import ModuleFailure
from deployer.hostfiles import sh_path
from deployer.modules.base import Change, TaskContext
from deployer.openwebui import http
from deployer.openwebui.config import AdminArgs

_GENERATE = """f={path}; umask 077
if [ ! -s "$f" ]; then
  mkdir -p "$(dirname "$f")" || exit 1
  p=$(head -c 18 /dev/urandom | base64 | tr '+/' 'xy')
  [ ${{#p}} -eq 24 ] || {{ echo "cannot read random bytes from /dev/urandom" >&2; exit 3; }}
  t="$f.tmp.$$"; printf '%s\n' "$p" > "$t" && mv -f "$t" "$f" || exit 1
fi
chmod 600 "$f" && cat "$f"
"""


def _stored_password(ctx: TaskContext, args: AdminArgs) -> str | None:
    """The password generated on an earlier run, if any. Read-only."""
    res = ctx.probe(f"cat {sh_path(args.password_file)} 2>/dev/null")
    return res.stdout.strip() or None


def _password(ctx: TaskContext, args: AdminArgs) -> str | None:
    return args.password or _stored_password(ctx, args)


def _generate_password(ctx: TaskContext, args: AdminArgs) -> str:
    res = ctx.run(_GENERATE.format(path=sh_path(args.password_file)))
    password = res.stdout.strip()
    if not res.ok or not password:
        raise ModuleFailure(f"cannot write the admin password file {args.password_file}: {res.tail(3)}")
    ctx.report(password_file=args.password_file)
    return password


def _where(ctx: TaskContext, args: AdminArgs) -> str:
    return f"Open WebUI on {ctx.host} ({args.reach_host}:{args.port})"


def check(ctx: TaskContext, args: AdminArgs) -> Change | None:
    base = http.base_url(ctx, args.reach_host, args.port)
    up, last = http.healthy(base)
    if not up:
        if ctx.check_mode and ctx.earlier_changes_pending:
            return Change(f"would create the admin account {args.email} once Open WebUI runs{_generated_note(ctx, args)}")
        raise ModuleFailure(f"{_where(ctx, args)} does not answer /health ({last})", hint="the open_webui task must run first, on the same port")
    password = _password(ctx, args)
    if password is None:
        _, config = http.call(base, "GET", "/api/config")
        if isinstance(config, dict) and config.get("onboarding") is True:
            return Change(f"create the admin account {args.email}{_generated_note(ctx, args)}")
        raise ModuleFailure(
            f"{_where(ctx, args)} already has accounts and no admin password is given or stored in {args.password_file}",
            hint="set admin_password to the admin's password",
        )
    status, body = http.call(base, "POST", "/api/v1/auths/signin", {"email": args.email, "password": password})
    if status == 200 and isinstance(body, dict):
        role = body.get("role")
        if role != "admin":
            raise ModuleFailure(
                f"{args.email} can sign in to {_where(ctx, args)} but is a '{role}', not an admin",
                hint="make it admin in Admin Panel > Users, or set admin_email to the admin's address",
            )
        ctx.report(admin=args.email, role=role)
        return None
    _, config = http.call(base, "GET", "/api/config")
    if isinstance(config, dict) and config.get("onboarding") is True:
        return Change(f"create the admin account {args.email}")
    detail = body.get("detail") if isinstance(body, dict) else body
    raise ModuleFailure(
        f"{_where(ctx, args)} already has accounts, and {args.email} cannot sign in with admin_password (HTTP {status}: {detail})",
        hint="deployer never resets passwords: sign in as an admin and fix the account (or its password), "
        "or set admin_email/admin_password to an existing admin",
    )


def _generated_note(ctx: TaskContext, args: AdminArgs) -> str:
    if args.password or _stored_password(ctx, args):
        return ""
    return f" (password generated on the host into {args.password_file})"


def apply(ctx: TaskContext, args: AdminArgs, change: Change) -> None:
    base = http.base_url(ctx, args.reach_host, args.port)
    password = _password(ctx, args) or _generate_password(ctx, args)
    status, body = http.call(
        base, "POST", "/api/v1/auths/signup", {"name": args.admin_name, "email": args.email, "password": password}
    )
    detail = body.get("detail") if isinstance(body, dict) else body
    if status == 403:
        raise ModuleFailure(
            f"{_where(ctx, args)} refused to create the first account (HTTP 403: {detail})",
            hint="this release refuses signups while ENABLE_SIGNUP is off: run once with enable_signup: true",
        )
    if status != 200 or not isinstance(body, dict):
        raise ModuleFailure(f"creating the admin account on {_where(ctx, args)} failed (HTTP {status}: {detail})")
    if body.get("role") != "admin":
        raise ModuleFailure(
            f"{args.email} was created as '{body.get('role')}', not admin: another account signed up first",
            hint="find and remove the unknown account in Admin Panel > Users",
        )
    ctx.report(admin=args.email, role="admin", created=True)
