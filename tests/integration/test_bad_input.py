"""test_bad_input.py — every class of bad input to intake and dispatch gets
a clear error to its sender, registers nothing, and leaves the daemon
serving: after each one the same daemon (still the same process) takes a
good request."""

import pytest

from gc_cluster import Cluster, Reporter, pb, error_name, raw_string_field, take_offer


@pytest.fixture(scope="module")
def street(gc_directory):
    grid, category = gc_directory.choose("GRID")
    return grid, category


@pytest.fixture(scope="module")
def intake_cluster(request):
    """One intake for the module (each test checks it still serves)."""
    c = Cluster(name="bad-input-intake")
    failed_before = request.session.testsfailed
    try:
        c.load_directory()
        c.start("intake")
        yield c
    finally:
        c.close(keep=request.session.testsfailed > failed_before)


@pytest.fixture
def reporter(intake_cluster):
    r = intake_cluster.reporter()
    yield r
    r.close()
    intake_cluster.clients.remove(r)


def good_report(street, **kw):
    return Reporter.new_report(*street, text="a good report after a bad one", **kw)


def assert_still_serving(c, reporter, street):
    """The process that got the bad input is alive and registers a good report."""
    intake = c["intake"]
    assert intake.alive(), f"intake died: exit {intake.proc.returncode}"
    assert intake.starts == 1
    kind, msg = reporter.request("report", good_report(street))
    assert kind == "report.ok", f"good report refused after bad input: {msg}"


def report_bytes(street, **fields):
    """A serialized Report with fields overridden (None drops a field)."""
    values = dict(idempotency_key="pytest-bad-key", grid=street[0], category=street[1],
                  text="bad input probe", reporter="pytest")
    values.update(fields)
    return pb.Report(**{k: v for k, v in values.items() if v is not None}).SerializeToString()


# (test id, frames builder, accepted error codes, ref expected)
def cases(street):
    big = b"\x0a" + b"\xff" * 70000
    return {
        "unknown-type": ([b"complain", report_bytes(street)], {pb.ERROR_UNKNOWN_TYPE}),
        "reply-type-from-client": ([b"report.ok", b""], {pb.ERROR_UNKNOWN_TYPE}),
        "empty-type": ([b"", report_bytes(street)], {pb.ERROR_UNKNOWN_TYPE}),
        "binary-type": ([b"\xff\xfe", report_bytes(street)], {pb.ERROR_UNKNOWN_TYPE}),
        "garbage-body": ([b"report", b"\xff\xff\xff\xff\xff\xff\xff\xff"], {pb.ERROR_MALFORMED}),
        "truncated-body": ([b"report", report_bytes(street)[:-4]], {pb.ERROR_MALFORMED}),
        "three-frames": ([b"report", report_bytes(street), b"extra"], {pb.ERROR_MALFORMED}),
        "too-large": ([b"report", big], {pb.ERROR_TOO_LARGE}),
    }


@pytest.mark.parametrize("name", ["unknown-type", "reply-type-from-client", "empty-type",
                                  "binary-type", "garbage-body", "truncated-body",
                                  "three-frames", "too-large"])
def test_bad_envelope(intake_cluster, reporter, street, name):
    frames, codes = cases(street)[name]
    before = intake_cluster.stats()["total"].get("reported", "0")
    reporter.send_frames(frames)
    kind, err = reporter.recv()
    assert kind == "error", f"{name}: got {kind} {err}"
    assert err.code in codes, f"{name}: got {error_name(err.code)}: {err.message}"
    assert err.message, "an error must say what was wrong"
    assert intake_cluster.stats()["total"].get("reported", "0") == before
    assert_still_serving(intake_cluster, reporter, street)


@pytest.mark.parametrize("field", ["idempotency_key", "grid", "category", "text"])
def test_missing_required_field(intake_cluster, reporter, street, field):
    reporter.send("report", report_bytes(street, **{field: None}))
    kind, err = reporter.recv()
    assert kind == "error" and err.code == pb.ERROR_MISSING_FIELD, (kind, err)
    assert field in err.message, f"the message should name {field}: {err.message}"
    assert_still_serving(intake_cluster, reporter, street)


def test_empty_report_body(intake_cluster, reporter, street):
    reporter.send("report", b"")
    kind, err = reporter.recv()
    assert kind == "error" and err.code == pb.ERROR_MISSING_FIELD, (kind, err)
    assert_still_serving(intake_cluster, reporter, street)


def test_unknown_grid_and_category(intake_cluster, reporter, street):
    kind, err = reporter.request("report", Reporter.new_report("G-NOWHERE", street[1],
                                                              key="pytest-unknown-grid"))
    assert kind == "error" and err.code == pb.ERROR_UNKNOWN_GRID, (kind, err)
    assert err.ref == "pytest-unknown-grid" and "G-NOWHERE" in err.message
    kind, err = reporter.request("report", Reporter.new_report(street[0], "no.such.category",
                                                              key="pytest-unknown-cat"))
    assert kind == "error" and err.code == pb.ERROR_UNKNOWN_CATEGORY, (kind, err)
    assert err.ref == "pytest-unknown-cat" and "no.such.category" in err.message
    # a refused key is not burnt: the same key with good data registers
    kind, ok = reporter.request("report", Reporter.new_report(*street, key="pytest-unknown-cat"))
    assert kind == "report.ok" and not ok.duplicate, ok
    assert_still_serving(intake_cluster, reporter, street)


def test_building_must_be_in_the_grid(intake_cluster, reporter, street, gc_directory):
    grid, category = street
    buildings = [b["id"] for g in gc_directory.doc["grids"] if g["id"] == grid
                 for b in g.get("buildings", [])]
    assert buildings, f"grid {grid} has no buildings in the demo directory"
    kind, err = reporter.request("report", Reporter.new_report(
        grid, category, key="pytest-bad-building", building="B9999"))
    assert kind == "error" and err.code == pb.ERROR_BAD_VALUE, (kind, err)
    assert "B9999" in err.message and grid in err.message
    kind, ok = reporter.request("report", Reporter.new_report(
        grid, category, key="pytest-good-building", building=buildings[0]))
    assert kind == "report.ok", (kind, ok)
    assert_still_serving(intake_cluster, reporter, street)


def test_text_length_is_bounded_in_bytes(intake_cluster, reporter, street):
    text_max = 2000                                  # intake's default text_max
    kind, ok = reporter.request("report", Reporter.new_report(*street, text="a" * text_max))
    assert kind == "report.ok", f"a text of exactly text_max bytes must pass: {ok}"
    for text in ("a" * (text_max + 1), "垃" * (text_max // 3 + 1)):   # 2001 bytes each
        kind, err = reporter.request("report", Reporter.new_report(*street, text=text,
                                                                  key="pytest-long"))
        assert kind == "error" and err.code == pb.ERROR_TEXT_TOO_LONG, (kind, err)
        assert err.ref == "pytest-long"
    assert_still_serving(intake_cluster, reporter, street)


@pytest.mark.parametrize("field,number", [("text", 4), ("reporter", 6), ("grid", 2)])
def test_invalid_utf8(intake_cluster, reporter, street, field, number):
    # Python's protobuf will not put invalid UTF-8 in a string field, so the
    # field is encoded by hand and appended (the last occurrence wins)
    body = report_bytes(street, idempotency_key="pytest-utf8") \
        + raw_string_field(number, b"bad \xc3\x28 bytes \xff\xfe and \xed\xa0\x80")
    reporter.send("report", body)
    kind, err = reporter.recv()
    assert kind == "error", (kind, err)
    # INVALID_UTF8 from intake's own check; protobuf-c 1.4 does not check UTF-8
    assert err.code == pb.ERROR_INVALID_UTF8, f"got {error_name(err.code)}: {err.message}"
    assert field in err.message
    assert_still_serving(intake_cluster, reporter, street)


def test_bad_channel_enum(intake_cluster, reporter, street):
    body = report_bytes(street) + bytes([5 << 3 | 0, 99])        # channel = 99
    reporter.send("report", body)
    kind, err = reporter.recv()
    assert kind == "error" and err.code == pb.ERROR_BAD_VALUE, (kind, err)
    assert_still_serving(intake_cluster, reporter, street)


def test_verify_and_evaluate_refusals(intake_cluster, reporter, street):
    kind, err = reporter.verify("TJ-19990101-999999", True)
    assert kind == "error" and err.code == pb.ERROR_UNKNOWN_CASE, (kind, err)
    assert err.ref == "TJ-19990101-999999"
    kind, err = reporter.verify("", True)
    assert kind == "error" and err.code == pb.ERROR_MISSING_FIELD, (kind, err)
    kind, ok = reporter.request("report", good_report(street))
    assert kind == "report.ok"
    kind, err = reporter.verify(ok.case_id, True)         # not resolved yet
    assert kind == "error" and err.code == pb.ERROR_WRONG_STATE, (kind, err)
    kind, err = reporter.evaluate(ok.case_id, 4)           # not closed yet
    assert kind == "error" and err.code == pb.ERROR_WRONG_STATE, (kind, err)
    kind, err = reporter.evaluate(ok.case_id, 6)
    assert kind == "error" and err.code == pb.ERROR_BAD_VALUE, (kind, err)
    assert intake_cluster.state(ok.case_id) == "REGISTERED"
    assert_still_serving(intake_cluster, reporter, street)


def test_a_burst_of_garbage(intake_cluster, reporter, street):
    """Many bad messages back to back, each answered, then a good one."""
    bursts = [[b"report", bytes([i]) * (i + 1)] for i in range(1, 64)] \
        + [[b"x" * 40, b""], [b"verify", b"\x0a\x05abc"], [b"evaluate", b"\x10\xff"]]
    for frames in bursts:
        reporter.send_frames(frames)
    answers = [reporter.recv() for _ in bursts]
    assert all(kind == "error" and err.message for kind, err in answers), answers
    assert_still_serving(intake_cluster, reporter, street)


# ---------------------------------------------------------------------------
# dispatch: the unit conversation

@pytest.fixture(scope="module")
def dispatch_cluster(request):
    c = Cluster(name="bad-input-dispatch")
    failed_before = request.session.testsfailed
    try:
        c.load_directory()
        c.start("intake")
        c.start("dispatch")
        yield c
    finally:
        c.close(keep=request.session.testsfailed > failed_before)


def assert_dispatch_serving(c, unit_id):
    d = c["dispatch"]
    assert d.alive() and d.starts == 1, f"dispatch died: exit {d.proc.returncode}"
    u = c.unit(unit_id, hello=False)
    kind, msg = u.hello()
    assert kind == "welcome" and msg.unit_id == unit_id, (kind, msg)
    u.close()
    c.clients.remove(u)


def raw_unit(c):
    """A bare DEALER on dispatch's unit ROUTER with a unit's key, for frames
    no unit should send."""
    return c.peer("units", c.unit_cert(next(iter(c.directory.units))), "dispatch")


def test_unknown_unit_is_refused(dispatch_cluster, gc_directory, street):
    c = dispatch_cluster
    u = c.unit("NO-SUCH-UNIT", hello=False)
    kind, err = u.hello()
    assert kind == "error" and err.code == pb.ERROR_UNKNOWN_UNIT, (kind, err)
    unit_id = gc_directory.fitting("GRID", *street)[0]
    assert_dispatch_serving(c, unit_id)


def test_hello_beyond_the_directory_is_refused(dispatch_cluster, gc_directory, street):
    c = dispatch_cluster
    unit_id = gc_directory.fitting("GRID", *street)[0]
    u = c.unit(unit_id, hello=False)
    kind, err = u.hello(categories=["no.such"])
    assert kind == "error" and err.code == pb.ERROR_NOT_PERMITTED, (kind, err)
    assert_dispatch_serving(c, unit_id)


@pytest.mark.parametrize("frames,codes", [
    ([b"hello", b"\xff\xff\xff"], {pb.ERROR_MALFORMED}),
    ([b"offer", b""], {pb.ERROR_PROTOCOL, pb.ERROR_UNKNOWN_TYPE}),
    ([b"dance", b""], {pb.ERROR_UNKNOWN_TYPE}),
    ([b"accept", pb.Accept(offer_id="1", case_id="TJ-19990101-000001").SerializeToString()],
     {pb.ERROR_PROTOCOL}),
    ([b"hello", pb.Hello(unit_id="x", protocol=2).SerializeToString()],
     {pb.ERROR_PROTOCOL, pb.ERROR_UNKNOWN_UNIT}),
    ([b"hello", b"\x0a" + b"\x7f" * 80000], {pb.ERROR_TOO_LARGE}),
], ids=["garbage-hello", "server-type", "unknown-type", "accept-before-hello",
        "wrong-protocol", "too-large"])
def test_bad_unit_messages(dispatch_cluster, gc_directory, street, frames, codes):
    c = dispatch_cluster
    peer = raw_unit(c)
    peer.send_frames(frames)
    kind, err = peer.recv()
    assert kind == "error" and err.code in codes, f"got {kind} {error_name(err.code)}: {err}"
    assert err.message
    assert_dispatch_serving(c, gc_directory.fitting("GRID", *street)[0])


def test_replies_to_offers_that_are_not_yours(dispatch_cluster, gc_directory, street):
    """Accepting an unknown case, an offer made to another unit, or resolving
    what you do not hold: refused, and the real holder is unaffected."""
    c = dispatch_cluster
    grid, category = gc_directory.choose("GRID", min_units=2)
    a_id, b_id = gc_directory.fitting("GRID", grid, category)[:2]
    a, b = c.unit(a_id), c.unit(b_id)
    fake = pb.Offer(offer_id="999999", case_id="TJ-19990101-000001")
    kind, err = a.accept(fake)
    assert kind == "error" and err.code == pb.ERROR_UNKNOWN_CASE, (kind, err)
    kind, err = a.accept(pb.Offer(offer_id="", case_id=""))
    assert kind == "error" and err.code == pb.ERROR_MISSING_FIELD, (kind, err)

    reporter = c.reporter()
    reply = reporter.report(grid, category, "who takes this?")
    holder, offer = take_offer([a, b], reply.case_id)
    other = b if holder is a else a
    kind, err = other.accept(offer)                      # not offered to other
    assert kind == "error" and err.code == pb.ERROR_STALE, (kind, err)
    kind, err = other.resolve(offer, "not mine")
    assert kind == "error" and err.code == pb.ERROR_NOT_PERMITTED, (kind, err)
    kind, ack = holder.accept(offer)
    assert kind == "ok" and ack.state == pb.STATE_ACCEPTED, (kind, ack)
    kind, err = other.progress(offer, "sneaky note")
    assert kind == "error" and err.code == pb.ERROR_NOT_PERMITTED, (kind, err)
    case = c.case(reply.case_id)
    assert case["unit"] == holder.unit_id
    assert [e["what"] for e in case["timeline"]] == ["registered", "offered", "accepted"]
    a.close()
    b.close()
    assert_dispatch_serving(c, a_id)
