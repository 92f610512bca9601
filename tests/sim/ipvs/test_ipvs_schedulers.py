"""Every scheduler against the worked examples of kernel-facts.md section 2."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from app.sim.ipvs.director import Ipvs
from app.sim.ipvs.hashing import hash_32, hsiphash_u32, siphash
from app.sim.ipvs.model import F_SCHED1, F_SCHED2
from app.sim.ipvs.schedulers import SCHEDULERS
from app.sim.ipvs.schedulers.mh import TAB_SIZE
from app.sim.ipvs.schedulers.sh import LegacySourceHashing
from tests.sim.ipvs.ipvs_helpers import VIP, picks, req, service

KERNEL_NAMES = [
    "rr",
    "wrr",
    "lc",
    "wlc",
    "sed",
    "nq",
    "sh",
    "dh",
    "mh",
    "lblc",
    "lblcr",
    "fo",
    "ovf",
    "twos",
]


def test_registry_holds_every_kernel_scheduler_by_its_module_name() -> None:
    assert sorted(SCHEDULERS) == sorted(KERNEL_NAMES)


def test_rr_first_pick_is_the_most_recently_added_server() -> None:
    ipvs = Ipvs()
    svc = ipvs.add_service("TCP", VIP, 80, "rr")
    for addr in ("10.244.0.1", "10.244.0.2", "10.244.0.3"):
        ipvs.add_dest(svc, addr, 8080)
    got = [svc.scheduler.schedule(svc, req()).dest.addr for _ in range(4)]
    assert got == ["10.244.0.3", "10.244.0.2", "10.244.0.1", "10.244.0.3"]


def test_rr_skips_weight_zero_and_moves_pointer_back_when_its_dest_is_deleted() -> None:
    svc, letters = service("rr", [("A", 1), ("B", 0), ("C", 1)])
    assert picks(svc, letters, 3) == "ACA"
    a = svc.find("10.244.0.1", 8080)
    svc.del_dest(a)  # pointer was at A -> head; next pick starts from the front
    assert picks(svc, letters, 2) == "CC"


def test_rr_all_quiesced_is_no_destination_with_a_reason() -> None:
    svc, _letters = service("rr", [("A", 0), ("B", 0)])
    pick = svc.scheduler.schedule(svc, req())
    assert pick.dest is None
    assert "weight 0" in pick.reason["en"] and "权重" in pick.reason["zh"]


def test_wrr_432_plain_round_then_weighted_cycle() -> None:
    svc, letters = service("wrr", [("A", 4), ("B", 3), ("C", 2)])
    assert picks(svc, letters, 3 + 9 + 9) == "ABC" + "AABABCABC" * 2


def test_wrr_gcd_two_weights_4_2() -> None:
    svc, letters = service("wrr", [("A", 4), ("B", 2)])
    assert picks(svc, letters, 2 + 6) == "AB" + "AAB" * 2


def test_wrr_rebinding_scheduler_starts_at_max_weight() -> None:
    ipvs = Ipvs()
    svc, letters = service("wrr", [("A", 4), ("B", 3), ("C", 2)], ipvs)
    ipvs.edit_service(svc, "rr", 0, "255.255.255.255", 0)
    ipvs.edit_service(svc, "wrr", 0, "255.255.255.255", 0)
    assert picks(svc, letters, 9) == "AABABCABC"


def test_wrr_all_overloaded_is_no_destination() -> None:
    svc, letters = service("wrr", [("A", 2), ("B", 1)])
    for d in svc.dests:
        d.overloaded = True
    assert picks(svc, letters, 2) == "--"


def test_lc_lowest_overhead_first_in_list_wins_ties_and_reason_names_it() -> None:
    svc, _letters = service("lc", [("A", 1), ("B", 5), ("C", 1)])
    a, b, c = svc.dests
    a.activeconns, b.inactconns, c.inactconns = 1, 0, 0  # A: 256, B: 0, C: 0
    pick = svc.scheduler.schedule(svc, req())
    assert pick.dest is b
    assert pick.reason == {
        "en": "lc: 10.244.0.2 has overhead 0, lowest",
        "zh": "lc：10.244.0.2 的开销为 0，最低",
    }


def test_lc_active_counts_256_times_inactive() -> None:
    svc, letters = service("lc", [("A", 1), ("B", 1)])
    svc.dests[0].activeconns = 1  # 256
    svc.dests[1].inactconns = 255
    assert picks(svc, letters, 1) == "B"
    svc.dests[1].inactconns = 256  # tie -> first in list
    assert picks(svc, letters, 1) == "A"


def test_wlc_overhead_per_weight_and_weight_zero_never_wins() -> None:
    svc, letters = service("wlc", [("A", 1), ("B", 3), ("C", 0)])
    a, b, c = svc.dests
    a.inactconns, b.inactconns, c.inactconns = 1, 2, 0
    assert picks(svc, letters, 1) == "B"  # 1*3 > 2*1
    b.inactconns = 3
    assert picks(svc, letters, 1) == "A"  # 1*3 > 3*1 is false: earliest wins


def _opens(name: str) -> str:
    """Six TCP opens that become ESTABLISHED at once, A(w=1, 0 active), B(w=3, 1 active)."""
    svc, letters = service(name, [("A", 1), ("B", 3)])
    svc.dests[1].activeconns = 1
    out = ""
    for _ in range(6):
        d = svc.scheduler.schedule(svc, req()).dest
        d.activeconns += 1
        out += letters[d.addr]
    return out


def test_sed_versus_nq_six_opens() -> None:
    assert _opens("sed") == "BABBBA"
    assert _opens("nq") == "ABBBBA"


def test_sed_and_nq_ignore_inactive_connections() -> None:
    svc, letters = service("sed", [("A", 1), ("B", 1)])
    svc.dests[0].inactconns = 1000
    assert picks(svc, letters, 1) == "A"


def test_sh_modern_hash_worked_example_and_hash_32() -> None:
    assert hash_32(0x0A000001, 8) == 0x27
    svc, letters = service("sh", [("A", 1), ("B", 1), ("C", 1)])
    got = "".join(picks(svc, letters, 1, src=f"10.0.0.{i}") for i in range(1, 11))
    assert got == "ACBCABACAB"


def test_sh_legacy_hash_worked_example() -> None:
    svc, letters = service("sh", [("A", 1), ("B", 1), ("C", 1)])
    svc.scheduler = LegacySourceHashing()
    got = "".join(picks(svc, letters, 1, src=f"10.0.0.{i}") for i in range(1, 11))
    assert got == "ACBBACCBAA"


def test_sh_weights_give_consecutive_buckets_and_weight_zero_keeps_one() -> None:
    svc, letters = service("sh", [("A", 2), ("B", 0), ("C", 1)])
    owners = [letters[d.addr] for d in svc.sched_state.buckets[:8]]
    assert owners == list("AABCAABC")


def test_sh_quiesced_bucket_refuses_unless_fallback() -> None:
    svc, _letters = service("sh", [("A", 1), ("B", 1), ("C", 1)])
    svc.edit_dest(svc.dests[0], weight=0)  # A; 10.0.0.1 hashes to an A bucket
    # Rebuilt with A at weight 0: A still owns one bucket per cycle.
    owner = svc.sched_state.buckets[hash_32(0x0A000001, 8)]
    pick = svc.scheduler.schedule(svc, req(src="10.0.0.1"))
    assert (pick.dest is None) == (owner.weight == 0)
    svc.flags |= F_SCHED1
    assert svc.scheduler.schedule(svc, req(src="10.0.0.1")).dest.weight > 0


def test_sh_port_flag_spreads_one_client_by_source_port() -> None:
    svc, letters = service("sh", [("A", 1), ("B", 1), ("C", 1)])
    assert len({picks(svc, letters, 1, sport=p) for p in range(40000, 40020)}) == 1
    svc.flags |= F_SCHED2
    assert len({picks(svc, letters, 1, sport=p) for p in range(40000, 40020)}) == 3


def test_dh_keys_on_destination_so_every_client_lands_alike() -> None:
    svc, letters = service("dh", [("A", 5), ("B", 1), ("C", 1)])
    got = {picks(svc, letters, 1, src=f"10.0.0.{i}") for i in range(1, 30)}
    assert len(got) == 1
    owners = [letters[d.addr] for d in svc.sched_state.buckets[:6]]
    assert owners == list("ABCABC")  # weights ignored


def test_siphash_published_vectors() -> None:
    key = (0x0706050403020100, 0x0F0E0D0C0B0A0908)
    assert siphash(key, b"") == 0x726FDB47DD0E0E31
    assert siphash(key, bytes(range(15))) == 0xA129CA6149BE45E5
    assert 0 <= hsiphash_u32(1, key) < 2**32


def test_mh_slot_counts_equal_and_two_to_one_weights() -> None:
    svc, letters = service("mh", [("A", 1), ("B", 1), ("C", 1)])
    counts = Counter(letters[d.addr] for d in svc.sched_state.lookup)
    assert sorted(counts.values()) == [1364, 1364, 1365]
    assert sum(counts.values()) == TAB_SIZE == 4093
    svc, letters = service("mh", [("A", 2), ("B", 1)])
    counts = Counter(letters[d.addr] for d in svc.sched_state.lookup)
    assert counts == {"A": 2729, "B": 1364}


def test_mh_weight_zero_keeps_slots_and_refuses_its_clients() -> None:
    svc, _letters = service("mh", [("A", 1), ("B", 1)])
    a = svc.dests[0]
    clients = [f"10.1.{i // 250}.{i % 250}" for i in range(200)]
    before = {c: svc.scheduler.schedule(svc, req(src=c)).dest for c in clients}
    svc.edit_dest(a, weight=0)
    after = {c: svc.scheduler.schedule(svc, req(src=c)).dest for c in clients}
    assert all(after[c] is None for c in clients if before[c] is a)
    assert all(after[c] is before[c] for c in clients if before[c] is not a)
    svc.flags |= F_SCHED1
    assert all(svc.scheduler.schedule(svc, req(src=c)).dest is not a for c in clients)


def test_lblc_caches_by_destination_until_overloaded() -> None:
    svc, letters = service("lblc", [("A", 1), ("B", 1)])
    a, _b = svc.dests
    assert picks(svc, letters, 1) == "A"
    a.inactconns = 50  # higher overhead, but the cache still holds A
    assert picks(svc, letters, 1) == "A"
    a.activeconns = 2  # > weight 1, and B has 0*2 < 1: lblc-overloaded
    assert picks(svc, letters, 1) == "B"
    assert picks(svc, letters, 1) == "B"  # re-cached


def test_lblc_cache_entry_expires_after_a_day_unused() -> None:
    svc, letters = service("lblc", [("A", 1), ("B", 1)])
    assert picks(svc, letters, 1, now=0.0) == "A"
    svc.dests[0].inactconns = 5
    assert picks(svc, letters, 1, now=3600.0) == "A"
    assert picks(svc, letters, 1, now=3600.0 + 86401) == "B"


def test_lblcr_grows_its_set_when_overloaded_and_shrinks_after_expiry() -> None:
    svc, letters = service("lblcr", [("A", 1), ("B", 1)])
    a, b = svc.dests
    assert picks(svc, letters, 1) == "A"
    a.activeconns = 2
    assert picks(svc, letters, 1) == "B"
    entry = svc.sched_state.entries[VIP]
    assert [letters[d.addr] for d in entry.members] == ["B", "A"]
    a.activeconns = 0
    b.activeconns = 1
    assert picks(svc, letters, 1, now=50000.0) == "A"  # least loaded member of the set
    assert len(entry.members) == 2  # modified less than a day ago: kept
    assert picks(svc, letters, 1, now=90000.0) == "A"
    assert [letters[d.addr] for d in entry.members] == ["A"]  # the most loaded one left


def test_fo_highest_weight_first_of_equals() -> None:
    svc, letters = service("fo", [("A", 1), ("B", 5), ("C", 5)])
    assert picks(svc, letters, 3) == "BBB"
    svc.dests[1].overloaded = True
    assert picks(svc, letters, 1) == "C"


def test_ovf_skips_servers_with_more_active_than_weight() -> None:
    svc, letters = service("ovf", [("A", 1), ("B", 3)])
    assert picks(svc, letters, 1) == "B"
    svc.dests[1].activeconns = 4
    assert picks(svc, letters, 1) == "A"
    svc.dests[0].activeconns = 2
    assert picks(svc, letters, 1) == "-"


def test_twos_is_seeded_and_weighted() -> None:
    svc, letters = service("twos", [("A", 3), ("B", 1)])
    rng = random.Random(7)
    got = Counter(picks(svc, letters, 1, rng=rng) for _ in range(2000))
    assert got["A"] > got["B"] > 0
    again = Counter(picks(svc, letters, 1, rng=random.Random(7)) for _ in range(5))
    assert len(again) == 1  # same seed, same first pick


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_every_scheduler_refuses_weight_zero_and_gives_bilingual_reasons(name: str) -> None:
    svc, letters = service(name, [("A", 0), ("B", 2)])
    for _ in range(5):
        pick = svc.scheduler.schedule(svc, req(rng=random.Random(1)))
        assert set(pick.reason) == {"zh", "en"} and pick.reason["en"].startswith(name)
        assert pick.dest is None or letters[pick.dest.addr] == "B"


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_every_scheduler_with_no_servers_says_no_destination(name: str) -> None:
    svc, _ = service(name, [])
    assert svc.scheduler.schedule(svc, req()).dest is None
