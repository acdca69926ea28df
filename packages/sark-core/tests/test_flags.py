from __future__ import annotations

import hashlib

from sark.core import RolloutFlag, bucket


def test_bucket_is_the_documented_hash() -> None:
    digest = hashlib.sha256(b"rust_opa:u-42").digest()
    assert bucket("rust_opa", "u-42") == int.from_bytes(digest[:8], "big") % 100


def test_bucket_is_stable_and_in_range() -> None:
    values = [bucket("rust_opa", f"user-{i}") for i in range(2000)]
    assert values == [bucket("rust_opa", f"user-{i}") for i in range(2000)]
    assert min(values) >= 0
    assert max(values) <= 99


def test_buckets_differ_per_feature() -> None:
    same = sum(bucket("rust_opa", f"u{i}") == bucket("rust_cache", f"u{i}") for i in range(1000))
    assert same < 50  # independent features: about 1 % collide by chance


def test_raising_the_percentage_only_moves_subjects_to_the_new_side() -> None:
    subjects = [f"subject-{i}" for i in range(5000)]
    previous: set[str] = set()
    for pct in (0, 5, 25, 50, 100):
        flag = RolloutFlag(enabled=True, rollout_percentage=pct)
        assigned = {s for s in subjects if flag.assigns("rust_opa", s)}
        assert previous <= assigned
        previous = assigned
    assert previous == set(subjects)


def test_split_matches_percentage_within_statistical_bounds() -> None:
    flag = RolloutFlag(enabled=True, rollout_percentage=25)
    n = 20_000
    share = sum(flag.assigns("rust_opa", f"s{i}") for i in range(n)) / n
    # binomial sd = sqrt(.25*.75/n) ~ 0.003; 5 sd bound
    assert abs(share - 0.25) < 0.016


def test_disabled_flag_assigns_nobody() -> None:
    flag = RolloutFlag(enabled=False, rollout_percentage=100)
    assert not any(flag.assigns("rust_opa", f"s{i}") for i in range(100))
