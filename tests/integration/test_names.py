"""One home for each name: the proto enums name states, tiers and error
codes; the Redis function library (services/common/lua) and the C table
of store functions (services/common/store_fn.c) must agree with them and
with each other."""
import pathlib
import re

from gc_cluster import pb

ROOT = pathlib.Path(__file__).resolve().parents[2]
LUA = "\n".join(p.read_text() for p in sorted((ROOT / "services/common/lua").glob("*.lua")))

# codes a transition returns to its own daemon, never sent on the wire
# (FENCED: dispatch steps down and answers its units UNAVAILABLE)
INTERNAL_CODES = {"BOOKED", "NO_UNIT", "OFFER_LIVE", "UNKNOWN_JOB", "STORE", "NO_DIRECTORY",
                  "FENCED"}


def enum_names(enum, prefix):
    return [v.name[len(prefix):] for v in enum.DESCRIPTOR.values if v.number > 0]


def lua_list(name):
    m = re.search(r"local %s = \{([^}]*)\}" % name, LUA)
    assert m, f"{name} not found in the Lua library"
    return re.findall(r"'([A-Z_]+)'", m.group(1))


def test_lua_states_and_tiers_are_the_proto_enums():
    assert lua_list("STATES") == enum_names(pb.CaseState, "STATE_")
    assert lua_list("TIERS") == enum_names(pb.Tier, "TIER_")


def test_every_state_the_lua_names_is_a_proto_state():
    states = set(enum_names(pb.CaseState, "STATE_"))
    moved = set(re.findall(r"move_state\(P, c, '([A-Z_]+)'\)", LUA))
    assert moved and moved <= states, moved - states
    m = re.search(r"local LIFECYCLE = \{(.*?)\n\}", LUA, re.S)
    assert m, "the lifecycle table is missing"
    named = set(re.findall(r"\b([A-Z_]{4,})\b", m.group(1)))
    assert named <= states, named - states
    # every state a transition moves to can be reached in the table
    assert moved <= named | {"REGISTERED"}, moved - named


def test_every_error_code_the_lua_returns_is_a_proto_error_code():
    codes = set(re.findall(r"fail\('([A-Z_]+)'", LUA))
    wire = set(enum_names(pb.ErrorCode, "ERROR_"))
    assert codes, "no fail() found"
    assert codes - INTERNAL_CODES <= wire, (codes - INTERNAL_CODES) - wire


def c_store_functions():
    text = (ROOT / "services/common/store_fn.c").read_text()
    return {m.group(1): (int(m.group(2)), int(m.group(3)), m.group(4) == "true")
            for m in re.finditer(r'\{ "(gc_[a-z_]+)", (-?\d+), (-?\d+), (true|false) \}', text)}


def test_store_function_table_matches_the_loaded_library(cluster):
    c = cluster(load_directory=False)       # redis setup loaded build/gen/gridcall.lua
    listed = c.redis.call("FUNCTION", "LIST", "LIBRARYNAME", "gridcall")
    # RESP2: [[b"library_name", b"gridcall", ..., b"functions", [[b"name", ...], ...]]]
    lib = listed[0]
    functions = lib[lib.index("functions") + 1]
    loaded = {f[f.index("name") + 1]: "no-writes" in f[f.index("flags") + 1] for f in functions}
    table = c_store_functions()
    assert set(table) == set(loaded), (set(table) ^ set(loaded))
    for name, (low, high, readonly) in table.items():
        assert low >= 0 and (high == -1 or high >= low), name
        # FCALL_RO for exactly the functions flagged no-writes: report's
        # read-only Redis user can call them, and nothing else
        assert readonly == loaded[name], f"{name}: readonly {readonly}, no-writes {loaded[name]}"
