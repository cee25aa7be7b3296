# The two commands of the README:
#   make run    install what is missing, build, start the daemon (foreground)
#   make test   install what is missing, build, run every test
# Everything else here is a convenience around CMake and ctest.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=
# Developer and CI builds stop on any warning; a plain cmake build (a
# packager's) does not.
WERROR     ?= ON

# Debian packages: to build, to run containers, to test.
DEPS_BUILD = cmake make gcc pkg-config clang-format protobuf-c-compiler libprotobuf-c-dev \
             libgrpc-dev liblmdb-dev libcjson-dev libsystemd-dev libseccomp-dev \
             libselinux1-dev libcurl4-openssl-dev libssl-dev libarchive-dev \
             zlib1g-dev
DEPS_RUN   = runc crun conmon containernetworking-plugins iproute2
# gVisor: the "runsc" runtime handler's binary, for its integration tests
# and bench (a handler a node may configure, not needed to run crio).
DEPS_TEST  = python3-grpcio python3-protobuf python3-pytest protobuf-compiler \
             lmdb-utils docker-registry skopeo busybox-static apache2-utils \
             openssl runsc
DEPS       = $(DEPS_BUILD) $(DEPS_RUN) $(DEPS_TEST)
# Only `make fuzz` needs these: `make test` works without clang and runs the
# fuzz smoke test only when they are present.
DEPS_FUZZ  = clang libfuzzer-14-dev

.PHONY: all deps deps-fuzz build run test asan bench format format-check diagrams clean \
        fuzz fuzz-smoke soak install uninstall deb

all: build

# Installs only what is missing; does nothing (and needs no network) when
# every package is present.
deps:
	@missing=$$(for p in $(DEPS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "installing missing Debian packages:" $$missing; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root to install packages" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Configured on every build (a second or two) so that WERROR and CMAKE_ARGS
# always reach an existing build dir too.
build: deps
	cmake -S . -B $(BUILD) -DCRIO_WERROR=$(WERROR) $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# The default CNI network, written only when the config dir has none.
CNI_CONFIG_DIR ?= /etc/cni/net.d
cni-default:
	@found=; for f in $(CNI_CONFIG_DIR)/*.conflist $(CNI_CONFIG_DIR)/*.conf $(CNI_CONFIG_DIR)/*.json; do \
	  [ -e "$$f" ] && found=1; done; \
	if [ -n "$$found" ]; then \
	  echo "CNI: using the existing config in $(CNI_CONFIG_DIR)"; \
	else \
	  mkdir -p $(CNI_CONFIG_DIR) && \
	  install -m 0644 contrib/cni/10-crio-bridge.conflist $(CNI_CONFIG_DIR)/10-crio-bridge.conflist && \
	  echo "CNI: no network config found; installed $(CNI_CONFIG_DIR)/10-crio-bridge.conflist (bridge cni0, 10.85.0.0/16)"; \
	fi

run: build cni-default
	exec $(BUILD)/daemon/crio $(CRIO_ARGS)

# The fuzz smoke test joins when clang and libFuzzer are installed (make fuzz
# installs them); without them it is skipped with a line saying so.
FUZZ_PRESENT = $(shell command -v clang >/dev/null 2>&1 && \
                 ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 && echo yes)
test: build
	cd $(BUILD) && ctest --output-on-failure -j 2 --timeout 900
ifeq ($(FUZZ_PRESENT),yes)
	$(MAKE) --no-print-directory fuzz-smoke
else
	@echo "fuzz-smoke: skipped (needs clang and libFuzzer: make fuzz installs them)"
endif

# libFuzzer targets (fuzz/) in their own build: clang, with ASan and UBSan.
deps-fuzz:
	@$(MAKE) --no-print-directory deps DEPS="$(DEPS_FUZZ)"
$(FUZZ_BUILD)/CMakeCache.txt:
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCRIO_WERROR=$(WERROR) -DCRIO_FUZZ=ON $(CMAKE_ARGS)
fuzz: deps deps-fuzz $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) --target fuzz_all -j $(JOBS)
# Every kept regression input, then each target FUZZ_SECONDS from its seeds.
FUZZ_SECONDS ?= 5
fuzz-smoke: fuzz
	fuzz/run.sh smoke $(FUZZ_BUILD) $(FUZZ_SECONDS)

# AddressSanitizer + UBSan build of everything, and the whole suite on it.
asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCRIO_WERROR=$(WERROR) -DCRIO_ASAN=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j 2 --timeout 900

# Churn soak (tests/soak/soak.py): SOAK_LIFECYCLES pod lifecycles against one
# daemon, its fds, threads, RSS, database, log, run dir and mounts printed
# every 100.  Prints figures; fails only when a lifecycle fails or leaves
# something behind.
SOAK_LIFECYCLES ?= 1000
soak: build
	/usr/bin/python3 tests/soak/soak.py --build $(BUILD) --lifecycles $(SOAK_LIFECYCLES)

bench: build
	/usr/bin/python3 tests/bench/bench.py --build $(BUILD)
	/usr/bin/python3 tests/bench/bench_pods.py --build $(BUILD)
	/usr/bin/python3 tests/bench/bench_images.py --build $(BUILD)
	/usr/bin/python3 tests/bench/bench_recovery.py --build $(BUILD)
	/usr/bin/python3 tests/bench/bench_node.py --build $(BUILD)
	/usr/bin/python3 tests/bench/bench_stats.py --build $(BUILD)
	/usr/bin/python3 tests/bench/bench_runtime_handlers.py --build $(BUILD)
	/usr/bin/python3 tests/bench/bench_streaming.py --build $(BUILD)

diagrams: build
	$(BUILD)/tests/statemachine-diagrams > docs/state-diagrams.md

# ---- install, uninstall, package ------------------------------------------
# CRI-O's file names: /etc/crio/crio.conf, /etc/crio/crio.conf.d/, the
# units crio.service (alias cri-o.service), crio-wipe.service, crio.socket.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DESTDIR    ?=
INSTALL_BINS = $(BUILD)/daemon/crio $(BUILD)/daemon/crio-pause \
               $(BUILD)/tools/crio-db-inspect/crio-db-inspect
UNITS      = crio.service crio-wipe.service crio.socket

# Config files are the operator's once written: never overwritten; a
# default crio.conf (every key, commented out) only when there is none, a
# CNI network only when the host has none.
install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DATADIR)/crio \
	  $(DESTDIR)$(DATADIR)/doc/crio $(DESTDIR)$(SYSCONFDIR)/crio/crio.conf.d
	install -m 0755 $(INSTALL_BINS) $(DESTDIR)$(BINDIR)/
	for u in $(UNITS); do \
	  sed 's|/usr/bin/crio|$(BINDIR)/crio|g' contrib/systemd/$$u > $(DESTDIR)$(UNITDIR)/$$u && \
	  chmod 0644 $(DESTDIR)$(UNITDIR)/$$u; done
	install -m 0644 contrib/cni/10-crio-bridge.conflist $(DESTDIR)$(DATADIR)/crio/
	install -m 0644 docs/configuration.md docs/operations.md $(DESTDIR)$(DATADIR)/doc/crio/
	$(BUILD)/daemon/crio --help > $(DESTDIR)$(DATADIR)/doc/crio/crio-help.txt
	@if [ ! -e $(DESTDIR)$(SYSCONFDIR)/crio/crio.conf ]; then \
	  $(BUILD)/daemon/crio -c "" -d "" config --default > $(DESTDIR)$(SYSCONFDIR)/crio/crio.conf; \
	  echo "installed $(SYSCONFDIR)/crio/crio.conf (defaults, commented out)"; \
	else echo "kept $(SYSCONFDIR)/crio/crio.conf"; fi
	@$(MAKE) --no-print-directory cni-default CNI_CONFIG_DIR=$(DESTDIR)$(SYSCONFDIR)/cni/net.d

# Removes what install put, except configuration (crio.conf, drop-ins,
# the CNI network), which may hold the operator's changes.
uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,crio crio-pause crio-db-inspect)
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS))
	rm -rf $(DESTDIR)$(DATADIR)/crio $(DESTDIR)$(DATADIR)/doc/crio
	@echo "kept $(SYSCONFDIR)/crio and $(SYSCONFDIR)/cni/net.d (configuration)"

# A Debian package (dpkg-deb, no debian/ source dir): /usr and /etc as a
# Debian 12 package lays them out, the libraries' packages found from the
# binaries' NEEDED entries.
DEB_VERSION ?= $(shell awk '/^project/ {for (i = 1; i < NF; i++) if ($$i == "VERSION") print $$(i+1)}' CMakeLists.txt)
DEB_ARCH    ?= $(shell dpkg --print-architecture)
DEB_ROOT     = $(abspath $(BUILD))/deb/root
DEB_FILE     = $(abspath $(BUILD))/deb/crio-c_$(DEB_VERSION)_$(DEB_ARCH).deb
deb: build
	rm -rf $(DEB_ROOT) && mkdir -p $(DEB_ROOT)/DEBIAN
	$(MAKE) --no-print-directory install DESTDIR=$(DEB_ROOT) PREFIX=/usr \
	  UNITDIR=/lib/systemd/system CNI_CONFIG_DIR=/nonexistent >/dev/null
	rm -rf $(DEB_ROOT)/etc/cni
	sed -e 's/@VERSION@/$(DEB_VERSION)/' -e 's/@ARCH@/$(DEB_ARCH)/' \
	  -e "s/@LIBS@/$$(contrib/deb/depends.sh $(INSTALL_BINS))/" \
	  contrib/deb/control.in > $(DEB_ROOT)/DEBIAN/control
	install -m 0755 contrib/deb/postinst contrib/deb/prerm contrib/deb/postrm $(DEB_ROOT)/DEBIAN/
	find $(DEB_ROOT)/etc -type f | sed 's|^$(DEB_ROOT)||' > $(DEB_ROOT)/DEBIAN/conffiles
	dpkg-deb --root-owner-group -Zgzip --build $(DEB_ROOT) $(DEB_FILE)
	@echo "built $(DEB_FILE)"

FORMAT_FILES = $(shell git ls-files '*.c' '*.h')
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
