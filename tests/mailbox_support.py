"""Dovecot as real mail providers run it: TLS with a certificate, ID logging, OAuth2 (XOAUTH2).

Everything is real: the certificate is issued by a throw-away CA (trustme) that the bot is told
to trust through `imap.ca_file`; XOAUTH2 tokens are checked by Dovecot's own oauth2 passdb
against a tiny HTTP token-info endpoint on loopback — the role Microsoft's identity platform
plays for Microsoft 365. Nothing here imports ``mailbot``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import trustme
from servers import Dovecot, free_port


class TlsDovecot(Dovecot):
    """Dovecot with TLS: STARTTLS on the IMAP port and implicit TLS on `imaps_port`."""

    def __init__(self, binary: str, directory: Path, extra: str = "") -> None:
        self.ca = trustme.CA()
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        directory.mkdir(parents=True, exist_ok=True)
        self.ca_file = directory / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        cert_file, key_file = directory / "server.pem", directory / "server.key"
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
        cert.private_key_pem.write_to_path(str(key_file))
        for path in (cert_file, key_file):
            path.chmod(0o644)  # the login processes read them as an unprivileged user
        directory.chmod(0o755)
        self.imaps_port = free_port()
        super().__init__(binary, extra_config=f"""
ssl = yes
ssl_cert = <{cert_file}
ssl_key = <{key_file}
ssl_min_protocol = TLSv1.2
service imap-login {{
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.imaps_port}
  }}
}}
{extra}""")


ID_LOG_CONFIG = "imap_id_log = *\n"


class TokenInfo:
    """An OAuth2 token-info endpoint: GET /tokeninfo?access_token=T answers for known tokens.

    `tokens` maps an access token to the e-mail address it was issued for; `asked` lists the
    tokens Dovecot asked about, in order."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.asked: list[str] = []
        info = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server calls it by this name
                query = parse_qs(urlparse(self.path).query)
                token = (query.get("access_token") or [""])[0]
                info.asked.append(token)
                email = info.tokens.get(token)
                body = json.dumps({"email": email, "active": True} if email
                                  else {"error": "invalid_token"}).encode()
                self.send_response(200 if email else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tokeninfo?access_token="

    @contextmanager
    def running(self) -> Iterator[TokenInfo]:
        self._thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


def oauth2_config(directory: Path, token_info: TokenInfo) -> str:
    """Dovecot settings adding XOAUTH2, checked by the oauth2 passdb against `token_info`."""
    directory.mkdir(parents=True, exist_ok=True)
    args = directory / "dovecot-oauth2.conf.ext"
    args.write_text(f"tokeninfo_url = {token_info.url}\nusername_attribute = email\n")
    args.chmod(0o644)
    return f"""
auth_mechanisms = plain login xoauth2
passdb {{
  driver = oauth2
  args = {args}
}}
"""
