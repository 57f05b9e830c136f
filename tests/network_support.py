"""A subprocess without network, proven: an audit hook that refuses and logs every connection and lookup.

``offline_env(tmp_path)`` returns the environment additions (a ``sitecustomize`` on ``PYTHONPATH``)
and the file the hook logs each attempt to. Before returning it runs its positive control: with this
environment a connection to a live loopback server is refused and logged, and the same connection
without it succeeds — so a test that finds the log empty knows the hook was loaded and would have
fired, not that it was never installed (a shadowing ``sitecustomize``, an ignored ``PYTHONPATH``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

NO_NETWORK = """\
import sys
_LOG = {log!r}
def _no_net(event, args):
    if event in ('socket.connect', 'socket.getaddrinfo', 'socket.gethostbyname', 'socket.gethostbyname_ex',
                 'socket.sendto', 'socket.sendmsg'):
        with open(_LOG, 'a') as fh:
            fh.write(event + ' ' + repr(args[1] if event in ('socket.connect', 'socket.sendto', 'socket.sendmsg')
                                        else args[0]) + '\\n')
        raise OSError('network disabled by the test')
sys.addaudithook(_no_net)
"""


def offline_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """(environment additions for a subprocess without network, the log of its attempts), checked."""
    hook = tmp_path / "no-network"
    hook.mkdir()
    log = tmp_path / "network-attempts.log"
    (hook / "sitecustomize.py").write_text(NO_NETWORK.format(log=str(log)))
    extra = {"PYTHONPATH": os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)}
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(2)
        port = server.getsockname()[1]
        probe = f"import socket; socket.socket().connect(('127.0.0.1', {port}))"
        refused = subprocess.run([sys.executable, "-c", probe], env={**os.environ, **extra}, capture_output=True,
                                 text=True, timeout=60)
        assert refused.returncode == 1 and "network disabled by the test" in refused.stderr, refused.stderr
        assert log.read_text() == f"socket.connect ('127.0.0.1', {port})\n", "the hook did not log the attempt"
        reachable = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
        assert reachable.returncode == 0, reachable.stderr  # the server was there: the hook made the difference
    log.unlink()
    return extra, log
