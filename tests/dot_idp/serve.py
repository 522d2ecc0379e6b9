"""The provider process: ``python -m tests.dot_idp.serve CONFIG.json`` (started by world.py, never by hand).

It generates the OIDC signing key and Django's secret key, creates the SQLite database (``migrate``), adds the
test user and the OAuth applications from the config, and serves the ASGI app with uvicorn over TLS on the
listening socket it inherited (``fd``), so the port is known before it starts and no other process can take it.
It exits when its stdin closes: the launcher that started it is gone.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def _rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def _exit_when_stdin_closes() -> None:
    def watch() -> None:
        try:
            while os.read(0, 4096):  # unbuffered: a buffered stdin reader can block interpreter shutdown
                pass
        except (OSError, ValueError):
            pass
        os._exit(0)

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()


def _seed(config: dict[str, Any]) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from oauth2_provider.models import get_application_model

    call_command("migrate", verbosity=0, interactive=False)
    users = get_user_model()
    for user in config["users"]:
        users.objects.create_user(**user)
    applications = get_application_model()
    for fields in config["applications"]:
        applications.objects.create(**fields)


def main(argv: list[str]) -> None:
    config = json.loads(Path(argv[1]).read_text())
    _exit_when_stdin_closes()
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "tests.dot_idp.settings",
        "DOT_IDP_SECRET_KEY": secrets.token_urlsafe(50),
        "DOT_IDP_RSA_PRIVATE_KEY": _rsa_pem(),
        "DOT_IDP_DB": config["database"],
    })
    import django

    django.setup()
    _seed(config)

    import uvicorn

    from tests.dot_idp.asgi import application

    uvicorn.run(application, fd=config["fd"], ssl_certfile=config["tls_cert"], ssl_keyfile=config["tls_key"],
                log_level="warning", lifespan="off", access_log=False,
                # uvicorn otherwise waits on SIGTERM for every client's idle keep-alive connection to close
                timeout_graceful_shutdown=1)


if __name__ == "__main__":
    main(sys.argv)
