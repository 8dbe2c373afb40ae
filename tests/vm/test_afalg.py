"""The AF_ALG crypto provider on a kernel that has AF_ALG: the router VM's.

Both tests run pytest INSIDE the VM over the serial console and read back
its summary line: the RFC 8439 known-answer vectors of tests/crypto with
the AF_ALG provider as the only provider, and the agreement/bad-input tests
of tests/vm/guest. A run that collected nothing, skipped anything or
failed anything fails here.
"""

import re

from .conftest import GUEST_MARKER


def _summary(output):
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _passed(summary):
    m = re.search(r"(\d+) passed", summary)
    return int(m.group(1)) if m else 0


AEAD_VECTOR_TESTS = (
    "test_aead_encryption_matches_rfc8439_section_2_8_2",
    "test_aead_decryption_of_rfc8439_section_2_8_2_returns_the_plaintext",
    "test_aead_decryption_matches_rfc8439_appendix_a5",
    "test_session_cipher_decrypts_rfc8439_appendix_a5_with_the_nonce_as_a_counter",
    "test_xchacha20_poly1305_encryption_matches_draft_appendix_a_3_1",
    "test_xchacha20_poly1305_decryption_of_draft_appendix_a_3_1_returns_the_plaintext",
)


def test_rfc8439_known_answers_pass_on_the_kernel_crypto_api(router_vm):
    result = router_vm.python("-m pytest -v -p no:cacheprovider tests/crypto/test_vectors.py "
                              "-k 'aead or session_cipher or xchacha20_poly1305'",
                              env="VPNSPOT_TEST_PROVIDERS=afalg")
    summary = _summary(result.output)
    assert result.status == 0, result.output[-3000:]
    assert "skipped" not in summary and "6 passed" in summary, summary
    for name in AEAD_VECTOR_TESTS:
        assert "%s[afalg] PASSED" % name in result.output, (name, result.output[-3000:])
    assert "[openssl]" not in result.output and "[pure]" not in result.output


def test_af_alg_agrees_with_openssl_and_rejects_bad_input_inside_the_vm(router_vm):
    result = router_vm.python("-m pytest -q -p no:cacheprovider tests/vm/guest/test_afalg_guest.py",
                              env="%s=1" % GUEST_MARKER)
    summary = _summary(result.output)
    assert result.status == 0, result.output[-3000:]
    assert "skipped" not in summary, summary
    assert _passed(summary) == 7, summary
