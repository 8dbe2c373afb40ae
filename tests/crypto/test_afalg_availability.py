"""afalg.available(): a yes or a no with a reason, on any kernel.

The provider's behaviour on a kernel that has AF_ALG is tested inside the
router VM (tests/vm/test_afalg.py); these tests need no AF_ALG.
"""

import errno
import socket

from vpnspot_router.crypto import afalg


def _kernel_opens_af_alg_sockets():
    try:
        socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET, 0).close()
        return True
    except OSError:
        return False


def test_availability_here_agrees_with_whether_the_kernel_opens_af_alg_sockets():
    state = afalg.available()
    if not _kernel_opens_af_alg_sockets():
        assert not state and "AF_ALG" in state.reason
    assert state.reason


def test_a_kernel_without_af_alg_is_unavailable_and_the_reason_names_the_config_option(monkeypatch):
    def no_af_alg(*args, **kwargs):
        raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
    monkeypatch.setattr(afalg.socket, "socket", no_af_alg)
    state = afalg.available()
    assert not state
    assert "CONFIG_CRYPTO_USER_API_AEAD" in state.reason and "not supported" in state.reason


def test_a_kernel_without_the_algorithm_is_unavailable_and_the_reason_names_it(monkeypatch):
    class NoAlgorithm(object):
        def __init__(self, *args):
            pass

        def bind(self, addr):
            raise OSError(errno.ENOENT, "No such file or directory")

        def close(self):
            pass
    monkeypatch.setattr(afalg.socket, "socket", NoAlgorithm)
    state = afalg.available()
    assert not state and afalg.ALG_NAME in state.reason
