"""JupyterHub where every user gets their own capped OpenRouter key (edge_jupyter.hub).

Complete and runnable as it is, for a trial on one machine. Servers run as you, so every
notebook can read the hub's keys and the other users' (see 2 below): use a throwaway
provisioning key with little credit behind it.

    pip install 'edge-jupyter[hub]'              # jupyterhub + cryptography
    npm install -g configurable-http-proxy       # the proxy JupyterHub starts
    export EDGE_PROVISIONING_KEY=sk-or-v1-...    # a throwaway one: openrouter.ai/settings/provisioning-keys
    export JUPYTERHUB_CRYPT_KEY=$(openssl rand -hex 32)   # keep it safe: the stored keys need it
    export EDGE_HUB_NAME=my-trial                # unique per OpenRouter account (see below)
    jupyterhub -f jupyter-config/jupyterhub_config.py

then open http://127.0.0.1:8000/ and log in with any name (the trial authenticator asks no
real password), run `%load_ext edge_jupyter` and a `%%edge` cell: the key is already there.
The admin sees every user's spend with `EDGE_HUB_NAME=my-trial edge-jupyter hub usage`;
`edge-jupyter hub forget USER --store edge-keys.sqlite` disables a user's key and gives
them a new one at their next spawn.

For a real deployment change the two marked places (the authenticator and the spawner) and
keep `edge.install(c)` LAST: it wraps the authenticator configured above it, so that
removing a user disables their key. Only a removal through the hub (admin page, users API)
does: c.Authenticator.delete_invalid_users and deleting rows from jupyterhub.sqlite bypass
it; the key of a user removed that way keeps working until `edge-jupyter hub forget USER`
(or until somebody new is given that name: their first spawn disables it).

Every value a deployment or a test changes is read from the environment, so this file can
be used unchanged (``load_subconfig``) with other ports, paths and OpenRouter URL:

  EDGE_PROVISIONING_KEY   the provisioning (management) key; never reaches users' servers
  EDGE_OPENROUTER_URL     OpenRouter's origin (default https://openrouter.ai)
  JUPYTERHUB_CRYPT_KEY    encrypts the stored keys (EDGE_HUB_CRYPT_KEY instead, to keep apart)
  EDGE_HUB_NAME           REQUIRED: part of each key's name on OpenRouter, edge-jupyter:NAME:USER.
                          Unique among the hubs on one OpenRouter account: the admin's
                          commands find a hub's keys by it, so two hubs with one name would
                          list and change each other's users' keys
  EDGE_HUB_STORE          the SQLite file of users' keys (0600, folder made 0700)
  EDGE_HUB_LIMIT_USD      each new key's credit limit in USD ("none": no limit)
  EDGE_HUB_LIMIT_RESET    daily | weekly | monthly | never
  EDGE_HUB_IP, EDGE_HUB_PORT   where the hub listens (127.0.0.1:8000)
  EDGE_HUB_AUTHENTICATOR  dummy (trial) | pam | shared-password | a dotted class path
  EDGE_HUB_ADMINS         comma-separated admin usernames (default: admin)
"""

import os
import sys

from edge_jupyter.hub import EdgeKeys
from edge_jupyter.user_numbers import USD

c = get_config()  # noqa: F821 -- JupyterHub defines get_config() when it loads this file

# -- where the hub listens -----------------------------------------------------------------
c.JupyterHub.ip = os.environ.get("EDGE_HUB_IP", "127.0.0.1")
_port = os.environ.get("EDGE_HUB_PORT", "8000")
if not _port.isdigit():
    sys.exit(f"jupyterhub_config.py: EDGE_HUB_PORT must be a port number, not {_port!r}.")
c.JupyterHub.port = int(_port)
c.JupyterHub.hub_ip = "127.0.0.1"

# -- who may log in (1: CHANGE FOR PRODUCTION) ---------------------------------------------
# "dummy" lets ANY name in with ANY password: a trial on 127.0.0.1 only, never on a network.
# Production: EDGE_HUB_AUTHENTICATOR=pam (system users), or install an OAuthenticator and set
# e.g. "github" here with its settings (c.GitHubOAuthenticator.client_id = ... ) below it,
# and list who may log in (c.Authenticator.allowed_users) instead of allow_all.
c.JupyterHub.authenticator_class = os.environ.get("EDGE_HUB_AUTHENTICATOR", "dummy")
c.Authenticator.allow_all = True
c.Authenticator.admin_users = {
    name.strip() for name in os.environ.get("EDGE_HUB_ADMINS", "admin").split(",") if name.strip()
}

# -- how users' servers start (2: CHANGE FOR PRODUCTION) -----------------------------------
# "simple" runs every server as the hub's own user with HOME=/tmp/USERNAME: a trial only.
# Under it the keys are NOT kept apart: any notebook runs as the hub's OS user, so it can read
# the hub's /proc/PID/environ (EDGE_PROVISIONING_KEY, JUPYTERHUB_CRYPT_KEY), the key store
# (0600 protects it from OTHER OS users only) and every other user's server environment
# (their OPENROUTER_API_KEY). For a trial use a throwaway provisioning key on an OpenRouter
# account with little credit, and only people you trust with all of it.
# Production: "localprocess" (the default: each server as the user's system account, the hub
# runs as root) or a container spawner (dockerspawner, kubespawner): only servers under other
# uids or in containers keep each user's key, and the hub's keys, from the others.
c.JupyterHub.spawner_class = "simple"
c.Spawner.cmd = [os.path.join(os.path.dirname(sys.executable), "jupyterhub-singleuser")]
if hasattr(os, "geteuid") and os.geteuid() == 0:
    # The trial's servers run as the hub's user; as root (a container) Jupyter refuses to
    # start without this, and JupyterHub shows only a bare 500.
    c.Spawner.args = ["--allow-root"]
# A user who brings their own key (`%edge connect`) needs somewhere to keep it; servers on a
# hub have no desktop keyring, so the per-user edge_jupyter key file (0600, under the user's
# data folder) is used. `%edge connect` then wins over the provisioned key until
# `%edge disconnect`.
c.Spawner.environment = {"EDGE_KEY_STORE": "file"}

# -- a capped OpenRouter key per user (keep this LAST) -------------------------------------
_limit = os.environ.get("EDGE_HUB_LIMIT_USD", "5")
_hub_name = os.environ.get("EDGE_HUB_NAME", "").strip()
if not _hub_name:
    sys.exit("jupyterhub_config.py: set EDGE_HUB_NAME to a short name for this hub, unique among "
             "the hubs on your OpenRouter account (e.g. export EDGE_HUB_NAME=class-2026): every "
             "user's key is named edge-jupyter:NAME:USER.")
try:  # the same check as every amount typed elsewhere: "$5" is fine, "abc" or "-1" is not
    _limit_usd = None if _limit.strip().lower() == "none" else float(USD.read(_limit, "EDGE_HUB_LIMIT_USD"))
except ValueError as exc:
    sys.exit(f"jupyterhub_config.py: {exc}")
edge = EdgeKeys(
    limit_usd=_limit_usd,
    limit_reset=os.environ.get("EDGE_HUB_LIMIT_RESET", "monthly"),
    hub_name=_hub_name,
    store_path=os.environ.get("EDGE_HUB_STORE", "edge-keys.sqlite"),  # e.g. /srv/jupyterhub/…
    # provisioning key: EDGE_PROVISIONING_KEY (or provisioning_key_file="/srv/jupyterhub/or-key")
)
edge.install(c)  # sets c.Spawner.pre_spawn_hook and wraps the authenticator class above
