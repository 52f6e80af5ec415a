# gridcall — build, run, test, bench. See README.md.
CC       ?= gcc
CFLAGS   ?= -O2 -g
WARN     := -std=c11 -Wall -Wextra -Wstrict-prototypes -Werror -D_GNU_SOURCE
BUILD    := build
GEN      := $(BUILD)/gen
INCLUDES := -Iservices/common -Iservices/unitkit -I$(GEN) -I/usr/include/libxml2
# --as-needed: a daemon carries only the libraries it calls (dispatch, escalate
# and notify load libmicrohttpd only to serve /metrics: metrics.c)
LIBS     := -Wl,--as-needed -lczmq -lzmq -lprotobuf-c -lhiredis -ljansson -lmicrohttpd -lsodium -lcrypto -lxml2 -lm
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer

COMMON_SRC := $(wildcard services/common/*.c)
GEN_SRC    = $(PROTO_GEN)
LIB        := $(BUILD)/libgridcall.a
LIB_OBJ    = $(patsubst %.c,$(BUILD)/obj/%.o,$(COMMON_SRC)) \
             $(patsubst $(GEN)/%.c,$(BUILD)/obj/gen/%.o,$(PROTO_GEN))

# The unit kit is a client library of its own: the wire contract (the
# generated code of the protos it speaks), libczmq and libprotobuf-c. Its
# sources see only their own folder and the generated headers, so a
# cluster header cannot creep in.
UNITKIT_SRC := $(filter-out services/unitkit/unit_example.c,$(wildcard services/unitkit/*.c))
KIT_LIB     := $(BUILD)/libgridcall-unitkit.a
KIT_OBJ     = $(patsubst %.c,$(BUILD)/obj/%.o,$(UNITKIT_SRC)) \
              $(BUILD)/obj/gen/gridcall.pb-c.o $(BUILD)/obj/gen/timers.pb-c.o
KIT_INCLUDES := -Iservices/unitkit -I$(GEN)
KIT_LIBS    := -lczmq -lzmq -lprotobuf-c

DAEMONS := intake dispatch escalate notify report
BINS    := $(addprefix $(BUILD)/gridcall-,$(DAEMONS)) $(BUILD)/gridcall $(BUILD)/gridcall-unit-sim \
           $(BUILD)/gridcall-unit-example
PYGEN   := tests/integration/gen/gridcall_pb2.py

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))

.SECONDEXPANSION:
.SECONDARY:
.PHONY: all deps run test test-unit test-integration bench chaos clean check-config install fuzz fuzz-smoke
all: $(BINS) $(PYGEN) $(BUILD)/web/index.html

# The command-center page: web/src plus ECharts from npm (web/package-lock.json).
$(BUILD)/web/index.html: $(wildcard web/src/*) web/package-lock.json
	@scripts/build-web.sh
	@touch $@

deps:
	@scripts/bootstrap.sh

# The wire contract: every file of proto/ (package gridcall.v1).
PROTO_SRC := $(sort $(wildcard proto/*.proto))
PROTO_GEN := $(patsubst proto/%.proto,$(GEN)/%.pb-c.c,$(PROTO_SRC))
$(GEN)/%.pb-c.c $(GEN)/%.pb-c.h: proto/%.proto
	@mkdir -p $(GEN)
	protoc-c --c_out=$(GEN) -Iproto $<

# The Redis function library: the files of services/common/lua in name order,
# and gc_version answering their SHA-1 (GRIDCALL_LUA_VERSION in C).
LUA_SRC := $(sort $(wildcard services/common/lua/*.lua))
$(GEN)/gridcall.lua: $(LUA_SRC) scripts/lua-library.sh
	@mkdir -p $(GEN)
	scripts/lua-library.sh $(LUA_SRC) > $@

$(GEN)/gridcall_lua.h: $(GEN)/gridcall.lua
	{ scripts/embed.sh gridcall_lua $<; \
	  sed -n "s/^local LIBRARY_VERSION = '\([0-9a-f]*\)'$$/#define GRIDCALL_LUA_VERSION \"\1\"/p" $<; } > $@

$(PYGEN): $(PROTO_SRC)
	@mkdir -p $(dir $@)
	protoc --python_out=$(dir $@) -Iproto $(PROTO_SRC)

$(BUILD)/obj/gen/%.o: $(GEN)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -std=c11 -D_GNU_SOURCE $(INCLUDES) -c $< -o $@

$(BUILD)/obj/%.o: %.c $(PROTO_GEN:.c=.h) $(GEN)/gridcall_lua.h $(wildcard services/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(INCLUDES) -c $< -o $@

$(BUILD)/obj/services/unitkit/%.o: services/unitkit/%.c $(PROTO_GEN:.c=.h) $(wildcard services/unitkit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(KIT_INCLUDES) -c $< -o $@

$(LIB): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(KIT_LIB): $(KIT_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/gridcall-%: $(LIB) $$(wildcard services/$$*/*.c services/$$*/*.h)
	$(CC) $(CFLAGS) $(WARN) $(INCLUDES) -Iservices/$* $(wildcard services/$*/*.c) $(LIB) $(LIBS) \
	    $(if $(filter notify,$*),-lcurl -lcrypto) -o $@

$(BUILD)/gridcall: $(LIB) $(wildcard services/cli/*.c) $(wildcard services/cli/*.h)
	$(CC) $(CFLAGS) $(WARN) $(INCLUDES) -Iservices/cli $(wildcard services/cli/*.c) $(LIB) $(LIBS) -o $@

# The simulator: a kit user that also links the cluster's library.
$(BUILD)/gridcall-unit-sim: $(KIT_LIB) $(LIB) $(wildcard services/unitsim/*.c)
	$(CC) $(CFLAGS) $(WARN) $(INCLUDES) $(wildcard services/unitsim/*.c) $(KIT_LIB) $(LIB) $(LIBS) -o $@

# The example unit links the kit and nothing of the cluster.
$(BUILD)/gridcall-unit-example: $(KIT_LIB) services/unitkit/unit_example.c
	$(CC) $(CFLAGS) $(WARN) $(KIT_INCLUDES) services/unitkit/unit_example.c $(KIT_LIB) $(KIT_LIBS) -o $@

$(BUILD)/gridcall-bench: $(LIB) tests/bench/gridcall_bench.c
	$(CC) $(CFLAGS) $(WARN) $(INCLUDES) tests/bench/gridcall_bench.c $(LIB) $(LIBS) -lpthread -o $@

# Unit tests build their class and the common sources under the sanitizers.
# tests/unit/test_<daemon>_<class>.c also gets services/<daemon>/<daemon>_<class>.c.
# Each source is compiled once into build/san and every test links the
# objects it needs: the common ones all, as before (26 tests compiling the
# same 21 files again took most of make test's build).
TEST_CLASS = $(wildcard services/$(word 1,$(subst _, ,$(1)))/$(1).c)
# A class that calls other classes of its daemon names them here:
# TEST_DEPS_<daemon>_<class> is compiled into that class's test too.
TEST_DEPS_intake_matters := services/intake/intake_check.c
TEST_DEPS_report_screen := services/report/report_api.c services/report/report_dir.c
TEST_DEPS_report_ledger := $(TEST_DEPS_report_screen) services/report/report_screen.c \
                           services/report/report_mask.c
TEST_DEPS_intake_open311 := services/intake/intake_http.c services/intake/intake_media.c
SAN_DIR    := $(BUILD)/san
SAN_OBJ    = $(patsubst %.c,$(SAN_DIR)/%.o,$(COMMON_SRC) $(UNITKIT_SRC) $(GEN_SRC))
TEST_OBJ   = $(patsubst %.c,$(SAN_DIR)/%.o,$(filter-out $(COMMON_SRC) $(UNITKIT_SRC), \
                 $(call TEST_CLASS,$(1)) $(TEST_DEPS_$(1))))

# A daemon's class sees its own folder's headers, as in the daemon's build.
$(SAN_DIR)/%.o: %.c $(PROTO_GEN:.c=.h) $(GEN)/gridcall_lua.h $(wildcard services/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) -O1 -g $(WARN) $(SAN) $(INCLUDES) $(if $(filter services/%,$<),-I$(dir $<)) -c $< -o $@

$(BUILD)/tests/test_%: tests/unit/test_%.c $(wildcard tests/unit/*.h) $$(SAN_OBJ) $$(call TEST_OBJ,$$*)
	@mkdir -p $(dir $@)
	$(CC) -O1 -g $(WARN) $(SAN) $(INCLUDES) -Iservices/$(word 1,$(subst _, ,$*)) $< \
	    $(call TEST_OBJ,$*) $(SAN_OBJ) $(LIBS) -lcurl -lcrypto -lmicrohttpd -lcmocka -o $@

run: deps all
	@scripts/run-local.sh

test: deps all $(UNIT_TESTS)
	@scripts/test.sh

test-unit: all $(UNIT_TESTS)
	@scripts/test.sh unit

test-integration: all
	@scripts/test.sh integration

bench: deps all $(BUILD)/gridcall-bench
	@scripts/bench.sh
	@for b in scripts/bench-*.sh; do [ -x "$$b" ] || continue; "$$b" || exit 1; done

# The chaos suite (tests/chaos; docs/cluster.md, "Failures and what they
# cost"): hosts as network namespaces, kill -9, Redis failovers, a torn AOF,
# clock steps, a frozen leader, network cuts, stuck subscribers, a soak.
# Root, iproute2, iptables, libfaketime. Not part of make test. Figures are
# printed and appended to build/chaos/report.txt; each run's histories stay
# in the kept folders of failed tests. CHAOS_KILLS (40), CHAOS_SOAK_S (300;
# 3600 for the hour), CHAOS_STOP_S (10), CHAOS_CUT_S (10), CHAOS_SEED (11);
# CHAOS_K picks scenarios by name (pytest -k), e.g. make chaos CHAOS_K=redis_cut.
chaos: all
	@scripts/bootstrap.sh chaos
	@mkdir -p $(BUILD)/chaos && rm -f $(BUILD)/chaos/report.txt
	/usr/bin/python3 -m pytest -q -s -p no:cacheprovider $(if $(CHAOS_K),-k '$(CHAOS_K)') tests/chaos

# Install the binaries, the screen's page, the sample configurations and
# the systemd units (deploy/systemd; docs/cluster.md) under DESTDIR/PREFIX.
PREFIX ?= /usr/local
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/gridcall/web \
	    $(DESTDIR)$(PREFIX)/share/gridcall/conf $(DESTDIR)$(PREFIX)/share/gridcall/doc \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	cp -R $(BUILD)/web/. $(DESTDIR)$(PREFIX)/share/gridcall/web/
	cp -R deploy/tianjiao $(DESTDIR)$(PREFIX)/share/gridcall/
	install -m 644 deploy/*.conf $(DESTDIR)$(PREFIX)/share/gridcall/conf/
	install -m 644 docs/*.md $(DESTDIR)$(PREFIX)/share/gridcall/doc/
	install -m 644 deploy/systemd/* $(DESTDIR)$(PREFIX)/lib/systemd/system/

check-config: all
	@scripts/test.sh configs

# libFuzzer harnesses (tests/fuzz, docs/fuzzing.md): Debian's clang builds
# the parsers they call again under the fuzzer, ASan and UBSan, in
# build/fuzz, apart from the gcc build. `make fuzz` runs each for
# FUZZ_SECONDS; `make fuzz-smoke` (CI) for FUZZ_SMOKE_SECONDS (15: every
# seed and regress-* input, then within 3 % of the edges 30 s reach).
FUZZ_CC      := clang
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_CFLAGS  := -O1 -g $(WARN) -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer
FUZZ_SRC     := $(COMMON_SRC) $(UNITKIT_SRC) services/intake/intake_check.c services/intake/intake_community.c \
                services/report/report_api.c services/notify/notify_job.c
FUZZ_LIB     := $(FUZZ_DIR)/libgridcall-fuzz.a
FUZZ_INCLUDES := $(INCLUDES) -Iservices/intake -Iservices/report -Iservices/notify
FUZZ_BINS    := $(patsubst tests/fuzz/fuzz_%.c,$(FUZZ_DIR)/fuzz_%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 15

$(FUZZ_DIR)/obj/$(GEN)/%.o: $(GEN)/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(filter-out $(WARN),$(FUZZ_CFLAGS)) -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer-no-link \
	    $(INCLUDES) -c $< -o $@

$(FUZZ_DIR)/obj/%.o: %.c $(PROTO_GEN:.c=.h) $(GEN)/gridcall_lua.h $(wildcard services/*/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_INCLUDES) -c $< -o $@

$(FUZZ_LIB): $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_SRC) $(PROTO_GEN))
	rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_INCLUDES) $< $(FUZZ_LIB) $(LIBS) -o $@

fuzz: deps $(FUZZ_BINS)
	@scripts/fuzz.sh $(FUZZ_SECONDS)

fuzz-smoke: deps $(FUZZ_BINS)
	@scripts/fuzz.sh $(FUZZ_SMOKE_SECONDS)

clean:
	rm -rf $(BUILD) tests/integration/gen
