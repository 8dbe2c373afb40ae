"""Known-answer tests for both crypto providers.

Every expected value is copied from the document cited beside it (RFC 8439,
RFC 7748, RFC 7693, draft-irtf-cfrg-xchacha-03), or computed by an independent
implementation (Python's hashlib.blake2s and hmac modules) - never by the code
under test.
"""

import hashlib
import hmac

import pytest

from .providers import unhex

# RFC 8439 section 2.4.2 / 2.8.2 plaintext and draft-irtf-cfrg-xchacha-03 A.3.1.
SUNSCREEN = (b"Ladies and Gentlemen of the class of '99: If I could offer you "
             b"only one tip for the future, sunscreen would be it.")


# --- ChaCha20 (RFC 8439) ----------------------------------------------------

def test_chacha20_block_function_matches_rfc8439_section_2_3_2(provider):
    # RFC 8439 section 2.3.2: key 00..1f, nonce 000000090000004a00000000,
    # block count 1. The block is the keystream, i.e. ChaCha20 of 64 zeros.
    key = bytes(range(32))
    nonce = unhex("00:00:00:09:00:00:00:4a:00:00:00:00")
    serialized_block = unhex("""
        10 f1 e7 e4 d1 3b 59 15 50 0f dd 1f a3 20 71 c4
        c7 d1 f4 c7 33 c0 68 03 04 22 aa 9a c3 d4 6c 4e
        d2 82 64 46 07 9f aa 09 14 c2 d7 05 d9 8b 02 a2
        b5 12 9c d1 de 16 4e b9 cb d0 83 e8 a2 50 3c 4e""")
    assert provider.chacha20(key, 1, nonce, bytes(64)) == serialized_block


def test_chacha20_encryption_matches_rfc8439_section_2_4_2(provider):
    key = bytes(range(32))
    nonce = unhex("00:00:00:00:00:00:00:4a:00:00:00:00")
    # RFC 8439 section 2.4.2, "Ciphertext Sunscreen".
    ciphertext = unhex("""
        6e 2e 35 9a 25 68 f9 80 41 ba 07 28 dd 0d 69 81
        e9 7e 7a ec 1d 43 60 c2 0a 27 af cc fd 9f ae 0b
        f9 1b 65 c5 52 47 33 ab 8f 59 3d ab cd 62 b3 57
        16 39 d6 24 e6 51 52 ab 8f 53 0c 35 9f 08 61 d8
        07 ca 0d bf 50 0d 6a 61 56 a3 8e 08 8a 22 b6 5e
        52 bc 51 4d 16 cc f8 06 81 8c e9 1a b7 79 37 36
        5a f9 0b bf 74 a3 5b e6 b4 0b 8e ed f2 78 5e 42
        87 4d""")
    assert provider.chacha20(key, 1, nonce, SUNSCREEN) == ciphertext
    assert provider.chacha20(key, 1, nonce, ciphertext) == SUNSCREEN


# --- Poly1305 (RFC 8439) ----------------------------------------------------

def test_poly1305_matches_rfc8439_section_2_5_2(provider):
    key = unhex("85:d6:be:78:57:55:6d:33:7f:44:52:fe:42:d5:06:a8:"
                "01:03:80:8a:fb:0d:b2:fd:4a:bf:f6:af:41:49:f5:1b")
    tag = unhex("a8:06:1d:c1:30:51:36:c6:c2:2b:8b:af:0c:01:27:a9")
    assert provider.poly1305(key, b"Cryptographic Forum Research Group") == tag


# RFC 8439 Appendix A.3, test vectors #5 to #11: (R, S, data, tag). They probe
# the final reduction mod 2^130-5 and the carry of s, where a big-integer
# implementation is most likely to slip.
POLY1305_EDGE_CASES = [
    ("#5", "02" + "00" * 15, "00" * 16, "ff" * 16, "03" + "00" * 15),
    ("#6", "02" + "00" * 15, "ff" * 16, "02" + "00" * 15, "03" + "00" * 15),
    ("#7", "01" + "00" * 15, "00" * 16,
     "ff" * 16 + "f0" + "ff" * 15 + "11" + "00" * 15, "05" + "00" * 15),
    ("#8", "01" + "00" * 15, "00" * 16,
     "ff" * 16 + "fb" + "fe" * 15 + "01" * 16, "00" * 16),
    ("#9", "02" + "00" * 15, "00" * 16, "fd" + "ff" * 15, "fa" + "ff" * 15),
    ("#10", "01" + "00" * 7 + "04" + "00" * 7, "00" * 16,
     "e3 35 94 d7 50 5e 43 b9 00 00 00 00 00 00 00 00"
     "33 94 d7 50 5e 43 79 cd 01 00 00 00 00 00 00 00"
     "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
     "01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
     "14 00 00 00 00 00 00 00 55 00 00 00 00 00 00 00"),
    ("#11", "01" + "00" * 7 + "04" + "00" * 7, "00" * 16,
     "e3 35 94 d7 50 5e 43 b9 00 00 00 00 00 00 00 00"
     "33 94 d7 50 5e 43 79 cd 01 00 00 00 00 00 00 00"
     "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
     "13" + "00" * 15),
]


@pytest.mark.parametrize("name,r,s,data,tag", POLY1305_EDGE_CASES,
                         ids=[case[0] for case in POLY1305_EDGE_CASES])
def test_poly1305_reduction_edge_cases_match_rfc8439_appendix_a3(provider, name, r, s, data, tag):
    assert provider.poly1305(unhex(r) + unhex(s), unhex(data)) == unhex(tag)


# --- AEAD_CHACHA20_POLY1305 (RFC 8439) --------------------------------------

RFC8439_2_8_2_KEY = unhex("""
    80 81 82 83 84 85 86 87 88 89 8a 8b 8c 8d 8e 8f
    90 91 92 93 94 95 96 97 98 99 9a 9b 9c 9d 9e 9f""")
# "32-bit fixed-common part" 07000000 followed by the IV 4041424344454647.
RFC8439_2_8_2_NONCE = unhex("07 00 00 00 40 41 42 43 44 45 46 47")
RFC8439_2_8_2_AAD = unhex("50 51 52 53 c0 c1 c2 c3 c4 c5 c6 c7")
RFC8439_2_8_2_CIPHERTEXT = unhex("""
    d3 1a 8d 34 64 8e 60 db 7b 86 af bc 53 ef 7e c2
    a4 ad ed 51 29 6e 08 fe a9 e2 b5 a7 36 ee 62 d6
    3d be a4 5e 8c a9 67 12 82 fa fb 69 da 92 72 8b
    1a 71 de 0a 9e 06 0b 29 05 d6 a5 b6 7e cd 3b 36
    92 dd bd 7f 2d 77 8b 8c 98 03 ae e3 28 09 1b 58
    fa b3 24 e4 fa d6 75 94 55 85 80 8b 48 31 d7 bc
    3f f4 de f0 8e 4b 7a 9d e5 76 d2 65 86 ce c6 4b
    61 16""")
RFC8439_2_8_2_TAG = unhex("1a:e1:0b:59:4f:09:e2:6a:7e:90:2e:cb:d0:60:06:91")


def test_aead_encryption_matches_rfc8439_section_2_8_2(provider):
    sealed = provider.chacha20_poly1305_seal(
        RFC8439_2_8_2_KEY, RFC8439_2_8_2_NONCE, SUNSCREEN, RFC8439_2_8_2_AAD)
    assert sealed == RFC8439_2_8_2_CIPHERTEXT + RFC8439_2_8_2_TAG


def test_aead_decryption_of_rfc8439_section_2_8_2_returns_the_plaintext(provider):
    opened = provider.chacha20_poly1305_open(
        RFC8439_2_8_2_KEY, RFC8439_2_8_2_NONCE,
        RFC8439_2_8_2_CIPHERTEXT + RFC8439_2_8_2_TAG, RFC8439_2_8_2_AAD)
    assert opened == SUNSCREEN


# RFC 8439 Appendix A.5. Its nonce is 4 zero bytes + 8 more, exactly the shape
# of WireGuard's nonce, so the session cipher's counter form can reach it.
RFC8439_A5_KEY = unhex("""
    1c 92 40 a5 eb 55 d3 8a f3 33 88 86 04 f6 b5 f0
    47 39 17 c1 40 2b 80 09 9d ca 5c bc 20 70 75 c0""")
RFC8439_A5_NONCE = unhex("00 00 00 00 01 02 03 04 05 06 07 08")
RFC8439_A5_AAD = unhex("f3 33 88 86 00 00 00 00 00 00 4e 91")
RFC8439_A5_CIPHERTEXT = unhex("""
    64 a0 86 15 75 86 1a f4 60 f0 62 c7 9b e6 43 bd
    5e 80 5c fd 34 5c f3 89 f1 08 67 0a c7 6c 8c b2
    4c 6c fc 18 75 5d 43 ee a0 9e e9 4e 38 2d 26 b0
    bd b7 b7 3c 32 1b 01 00 d4 f0 3b 7f 35 58 94 cf
    33 2f 83 0e 71 0b 97 ce 98 c8 a8 4a bd 0b 94 81
    14 ad 17 6e 00 8d 33 bd 60 f9 82 b1 ff 37 c8 55
    97 97 a0 6e f4 f0 ef 61 c1 86 32 4e 2b 35 06 38
    36 06 90 7b 6a 7c 02 b0 f9 f6 15 7b 53 c8 67 e4
    b9 16 6c 76 7b 80 4d 46 a5 9b 52 16 cd e7 a4 e9
    90 40 c5 a4 04 33 22 5e e2 82 a1 b0 a0 6c 52 3e
    af 45 34 d7 f8 3f a1 15 5b 00 47 71 8c bc 54 6a
    0d 07 2b 04 b3 56 4e ea 1b 42 22 73 f5 48 27 1a
    0b b2 31 60 53 fa 76 99 19 55 eb d6 31 59 43 4e
    ce bb 4e 46 6d ae 5a 10 73 a6 72 76 27 09 7a 10
    49 e6 17 d9 1d 36 10 94 fa 68 f0 ff 77 98 71 30
    30 5b ea ba 2e da 04 df 99 7b 71 4d 6c 6f 2c 29
    a6 ad 5c b4 02 2b 02 70 9b""")
RFC8439_A5_TAG = unhex("ee ad 9d 67 89 0c bb 22 39 23 36 fe a1 85 1f 38")
RFC8439_A5_PLAINTEXT = unhex("""
    49 6e 74 65 72 6e 65 74 2d 44 72 61 66 74 73 20
    61 72 65 20 64 72 61 66 74 20 64 6f 63 75 6d 65
    6e 74 73 20 76 61 6c 69 64 20 66 6f 72 20 61 20
    6d 61 78 69 6d 75 6d 20 6f 66 20 73 69 78 20 6d
    6f 6e 74 68 73 20 61 6e 64 20 6d 61 79 20 62 65
    20 75 70 64 61 74 65 64 2c 20 72 65 70 6c 61 63
    65 64 2c 20 6f 72 20 6f 62 73 6f 6c 65 74 65 64
    20 62 79 20 6f 74 68 65 72 20 64 6f 63 75 6d 65
    6e 74 73 20 61 74 20 61 6e 79 20 74 69 6d 65 2e
    20 49 74 20 69 73 20 69 6e 61 70 70 72 6f 70 72
    69 61 74 65 20 74 6f 20 75 73 65 20 49 6e 74 65
    72 6e 65 74 2d 44 72 61 66 74 73 20 61 73 20 72
    65 66 65 72 65 6e 63 65 20 6d 61 74 65 72 69 61
    6c 20 6f 72 20 74 6f 20 63 69 74 65 20 74 68 65
    6d 20 6f 74 68 65 72 20 74 68 61 6e 20 61 73 20
    2f e2 80 9c 77 6f 72 6b 20 69 6e 20 70 72 6f 67
    72 65 73 73 2e 2f e2 80 9d""")


def test_aead_decryption_matches_rfc8439_appendix_a5(provider):
    opened = provider.chacha20_poly1305_open(
        RFC8439_A5_KEY, RFC8439_A5_NONCE, RFC8439_A5_CIPHERTEXT + RFC8439_A5_TAG, RFC8439_A5_AAD)
    assert opened == RFC8439_A5_PLAINTEXT


def test_session_cipher_decrypts_rfc8439_appendix_a5_with_the_nonce_as_a_counter(provider):
    # WireGuard's nonce is 4 zero bytes + the counter in little-endian order.
    counter = int.from_bytes(RFC8439_A5_NONCE[4:], "little")
    cipher = provider.aead(RFC8439_A5_KEY)
    assert cipher.open(counter, RFC8439_A5_CIPHERTEXT + RFC8439_A5_TAG, RFC8439_A5_AAD) \
        == RFC8439_A5_PLAINTEXT
    assert cipher.seal(counter, RFC8439_A5_PLAINTEXT, RFC8439_A5_AAD) \
        == RFC8439_A5_CIPHERTEXT + RFC8439_A5_TAG


# --- X25519 (RFC 7748) ------------------------------------------------------

@pytest.mark.parametrize("scalar,u,expected", [
    # RFC 7748 section 5.2, first vector.
    ("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
     "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
     "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"),
    # RFC 7748 section 5.2, second vector (u has its top bit set: ignored).
    ("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
     "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
     "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"),
], ids=["first", "second"])
def test_x25519_matches_rfc7748_section_5_2(provider, scalar, u, expected):
    assert provider.x25519(unhex(scalar), unhex(u)) == unhex(expected)


# RFC 7748 section 6.1.
ALICE_PRIVATE = unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
ALICE_PUBLIC = unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
BOB_PRIVATE = unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
BOB_PUBLIC = unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
SHARED_SECRET = unhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")


def test_x25519_public_keys_match_rfc7748_section_6_1(provider):
    assert provider.x25519_public(ALICE_PRIVATE) == ALICE_PUBLIC
    assert provider.x25519_public(BOB_PRIVATE) == BOB_PUBLIC


def test_x25519_shared_secret_matches_rfc7748_section_6_1_from_both_sides(provider):
    assert provider.x25519(ALICE_PRIVATE, BOB_PUBLIC) == SHARED_SECRET
    assert provider.x25519(BOB_PRIVATE, ALICE_PUBLIC) == SHARED_SECRET


# --- BLAKE2s (RFC 7693) and HMAC-BLAKE2s -------------------------------------

def test_blake2s_256_of_abc_matches_rfc7693_appendix_b(provider):
    expected = unhex("""
        50 8C 5E 8C 32 7C 14 E2 E1 A7 2B A3 4E EB 45 2F
        37 45 8B 20 9E D6 3A 29 4D 99 9B 4C 86 67 59 82""")
    assert provider.blake2s(b"abc") == expected


@pytest.mark.parametrize("length", [0, 1, 3, 55, 63, 64, 65, 127, 128, 129, 1000])
@pytest.mark.parametrize("key_size", [0, 1, 16, 31, 32])
@pytest.mark.parametrize("digest_size", [1, 16, 20, 32])
def test_blake2s_matches_hashlib_for_every_length_key_and_digest_size(
        provider, length, key_size, digest_size):
    # Block-boundary lengths (63/64/65, 127/128/129) are where the "last
    # block" flag and the byte counter go wrong; hashlib's BLAKE2s is the
    # reference C implementation, independent of both providers' code paths.
    data = bytes((i * 7 + 3) & 0xFF for i in range(length))
    key = bytes((0x80 + i) & 0xFF for i in range(key_size))
    expected = hashlib.blake2s(data, digest_size=digest_size, key=key).digest()
    assert provider.blake2s(data, digest_size, key) == expected


@pytest.mark.parametrize("key_size", [0, 1, 16, 32, 63, 64, 65, 200])
@pytest.mark.parametrize("length", [0, 1, 32, 64, 65, 300])
def test_hmac_blake2s_matches_the_standard_library_hmac(provider, key_size, length):
    # Keys longer than the 64-byte block are hashed first (RFC 2104 section 2).
    key = bytes((0x11 * i) & 0xFF for i in range(key_size))
    data = bytes((i * 13) & 0xFF for i in range(length))
    assert provider.hmac_blake2s(key, data) == hmac.new(key, data, hashlib.blake2s).digest()


# --- HChaCha20 and XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03) -----------

def test_hchacha20_matches_draft_irtf_cfrg_xchacha_section_2_2_1(provider):
    key = unhex("00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:"
                "10:11:12:13:14:15:16:17:18:19:1a:1b:1c:1d:1e:1f")
    nonce = unhex("00:00:00:09:00:00:00:4a:00:00:00:00:31:41:59:27")
    subkey = unhex("82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc")
    assert provider.hchacha20(key, nonce) == subkey


# draft-irtf-cfrg-xchacha-03 Appendix A.3.1.
XCHACHA_KEY = unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
XCHACHA_NONCE = unhex("404142434445464748494a4b4c4d4e4f5051525354555657")
XCHACHA_AAD = unhex("50515253c0c1c2c3c4c5c6c7")
XCHACHA_CIPHERTEXT = unhex("""
    bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
    731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
    2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
    21f9664c97637da9768812f615c68b13b52e""")
XCHACHA_TAG = unhex("c0875924c1c7987947deafd8780acf49")


def test_xchacha20_poly1305_encryption_matches_draft_appendix_a_3_1(provider):
    sealed = provider.xaead_seal(XCHACHA_KEY, XCHACHA_NONCE, SUNSCREEN, XCHACHA_AAD)
    assert sealed == XCHACHA_CIPHERTEXT + XCHACHA_TAG


def test_xchacha20_poly1305_decryption_of_draft_appendix_a_3_1_returns_the_plaintext(provider):
    opened = provider.xaead_open(
        XCHACHA_KEY, XCHACHA_NONCE, XCHACHA_CIPHERTEXT + XCHACHA_TAG, XCHACHA_AAD)
    assert opened == SUNSCREEN
