"""Voucher codes: 11 random digits and a Damm check digit, checked over every case rather
than by sampling (the Luhn digit used before missed 09 <-> 90, and a random test caught it
in about 2% of runs)."""

from __future__ import annotations

import itertools

from marketplace.vouchers import service as vouchers
from marketplace.vouchers.service import DAMM_TABLE

DIGITS = range(10)
# Codes that stress the table: runs of one digit, the pairs Luhn missed, and random ones.
FIXED_BODIES = ["00000000000", "99999999999", "09090909090", "90909090909", "12345678901"]


def sample_codes() -> list[str]:
    fixed = [body + vouchers.check_digit(body) for body in FIXED_BODIES]
    return fixed + [vouchers.new_code() for _ in range(200)]


def test_the_table_is_a_quasigroup_with_a_zero_diagonal():
    """Rows and columns are permutations: once two inputs differ, every later step keeps
    them apart, so an error anywhere reaches the final digit. The zero diagonal makes the
    check digit the interim value itself."""
    assert all(sorted(row) == list(DIGITS) for row in DAMM_TABLE)
    assert all(sorted(DAMM_TABLE[r][c] for r in DIGITS) == list(DIGITS) for c in DIGITS)
    assert all(DAMM_TABLE[i][i] == 0 for i in DIGITS)


def test_every_adjacent_swap_changes_the_interim_for_every_prefix():
    """Weak total anti-symmetry over all 10 × 10 × 10 cases: from any interim value c, the
    digits a then b never end where b then a end unless a == b. With the quasigroup
    property above this proves every adjacent transposition, at any position of any code
    (the check digit included), is caught."""
    for c, a, b in itertools.product(DIGITS, DIGITS, DIGITS):
        if a != b:
            assert DAMM_TABLE[DAMM_TABLE[c][a]][b] != DAMM_TABLE[DAMM_TABLE[c][b]][a], (c, a, b)


def test_every_single_digit_error_and_every_adjacent_swap_is_refused():
    for code in sample_codes():
        assert vouchers.well_formed(code)
        for i in range(len(code)):
            for d in "0123456789":
                if d != code[i]:
                    typo = code[:i] + d + code[i + 1 :]
                    assert not vouchers.well_formed(typo), (code, typo)
        for i in range(len(code) - 1):
            if code[i] != code[i + 1]:
                swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
                assert not vouchers.well_formed(swapped), (code, swapped)


def test_known_check_digits():
    # the worked example of Damm's algorithm: 572 -> 4
    assert vouchers.check_digit("572") == "4"
    assert vouchers.well_formed("00000000000" + "0")
    assert vouchers.check_digit("09090909090") != vouchers.check_digit("90909090909")


def test_codes_are_12_ascii_digits():
    codes = {vouchers.new_code() for _ in range(2000)}

    assert len(codes) == 2000
    assert all(len(c) == 12 and c.isdigit() and vouchers.well_formed(c) for c in codes)
    assert not vouchers.well_formed("12345")
    assert not vouchers.well_formed("٠" * 12)  # Arabic-Indic zeros are digits, not ours
    assert not vouchers.well_formed("0000000000 0")
