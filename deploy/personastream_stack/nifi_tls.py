"""TLS material for the local NiFi: a private CA, the server's keystore and the admin's client
certificate, made once with openssl and the JDK's keytool.

NiFi 2 serves HTTPS only. Its single-user login provider is not served by Maven Central, so the
local NiFi authenticates clients the way NiFi clusters commonly do: mutual TLS, the client
certificate's subject being the user, authorized by NiFi's file-based authorizer.
"""
from __future__ import annotations

import json
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from personastream_stack.errors import StackError

ADMIN_CN = "personastream-admin"
ADMIN_OU = "personastream"
# NiFi renders certificate subjects in RFC 1779 order, as X500Principal does.
ADMIN_IDENTITY = f"CN={ADMIN_CN}, OU={ADMIN_OU}"
VALID_DAYS = "825"

_SERVER_EXT = ("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
               "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n")
_CLIENT_EXT = ("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
               "extendedKeyUsage=clientAuth\n")


@dataclass(frozen=True)
class TlsFiles:
    """Where the material lives; ``secrets.json`` holds the generated passwords (mode 0600)."""

    tls_dir: Path

    ca_cert = property(lambda self: self.tls_dir / "ca.pem")
    client_cert = property(lambda self: self.tls_dir / "client.pem")
    client_key = property(lambda self: self.tls_dir / "client.key")
    client_p12 = property(lambda self: self.tls_dir / "client.p12")
    keystore = property(lambda self: self.tls_dir / "keystore.p12")
    truststore = property(lambda self: self.tls_dir / "truststore.p12")
    secrets_file = property(lambda self: self.tls_dir / "secrets.json")

    def secrets(self) -> dict[str, str]:
        return json.loads(self.secrets_file.read_text())


def _run(argv: list[str], cwd: Path) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise StackError(f"{argv[0]} failed making NiFi's TLS material in {cwd} "
                         f"({' '.join(argv[:3])} ...):\n{done.stderr[-2000:]}")


def ensure_tls(tls_dir: Path, keytool: Path) -> TlsFiles:
    """Create the CA, server keystore, truststore and admin client certificate unless present."""
    files = TlsFiles(tls_dir)
    if files.secrets_file.exists():
        return files
    tls_dir.mkdir(parents=True, exist_ok=True)
    tls_dir.chmod(0o700)
    pw = {k: secrets.token_hex(16) for k in ("keystore_password", "truststore_password",
                                              "sensitive_props_key", "client_p12_password")}
    (tls_dir / "server.ext").write_text(_SERVER_EXT)
    (tls_dir / "client.ext").write_text(_CLIENT_EXT)
    openssl = ["openssl"]
    _run([*openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", VALID_DAYS,
          "-sha256", "-keyout", "ca.key", "-out", "ca.pem", "-subj",
          f"/OU={ADMIN_OU}/CN=personastream-nifi-ca", "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"], tls_dir)
    for name, subject in (("server", "/OU=NIFI/CN=localhost"),
                          ("client", f"/OU={ADMIN_OU}/CN={ADMIN_CN}")):
        _run([*openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
              "-out", f"{name}.csr", "-subj", subject], tls_dir)
        _run([*openssl, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
              "-CAcreateserial", "-days", VALID_DAYS, "-sha256", "-out", f"{name}.pem",
              "-extfile", f"{name}.ext"], tls_dir)
    _run([*openssl, "pkcs12", "-export", "-name", "nifi-key", "-inkey", "server.key", "-in",
          "server.pem", "-certfile", "ca.pem", "-out", "keystore.p12",
          "-passout", f"pass:{pw['keystore_password']}"], tls_dir)
    _run([str(keytool), "-importcert", "-noprompt", "-alias", "personastream-ca", "-file",
          "ca.pem", "-keystore", "truststore.p12", "-storetype", "PKCS12",
          "-storepass", pw["truststore_password"]], tls_dir)
    # For a browser: import client.p12 (password in secrets.json) to use the NiFi UI.
    _run([*openssl, "pkcs12", "-export", "-name", ADMIN_CN, "-inkey", "client.key", "-in",
          "client.pem", "-certfile", "ca.pem", "-out", "client.p12",
          "-passout", f"pass:{pw['client_p12_password']}"], tls_dir)
    for leftover in ("server.csr", "client.csr", "ca.srl", "server.ext", "client.ext"):
        (tls_dir / leftover).unlink(missing_ok=True)
    for path in tls_dir.iterdir():
        path.chmod(0o600)
    files.secrets_file.write_text(json.dumps(pw))
    files.secrets_file.chmod(0o600)
    return files
