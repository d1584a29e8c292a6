# Build and install perp, laid out as perp 2.07's conf.mk did: every program in SBINDIR,
# perpetrate(5) in MANDIR/man5 and the other pages in MANDIR/man8.
#
#   make                          cargo build --release (perpd and the multi-call executable)
#   make install                  install into $(DESTDIR)$(SBINDIR) and $(DESTDIR)$(MANDIR)
#   make install DESTDIR=/tmp/pkg PREFIX=/usr
#   make uninstall                remove exactly what install put there
#   make install-completions      bash and zsh completions (COMPDIR_BASH, COMPDIR_ZSH)
#
# MULTICALL=yes (the default) builds perp-multicall, one executable holding every program but
# perpd, and installs it once under each of their names: perpctl, and the other 23 names as
# hard links to it. The name a program is run as picks it, so names, options, messages and exit
# codes are those of the separate programs. perpd stays a program of its own, dynamically
# linked: every resident page of its executable counts in its memory for as long as it runs,
# and libc's pages are shared with the rest of the system. MULTICALL=no builds and installs the
# 25 separate programs instead.
#
# STATIC=no (the default, on every system) links the multi-call executable dynamically, as
# perp 2.07's programs are. STATIC=yes, an opt-in on Linux with glibc, links it statically
# (crt-static): a program then starts without the dynamic loader mapping libc and libgcc_s,
# about 0.2 ms sooner (perpstat -V), a saving at every link of a runtool chain. The price: a
# static glibc executable cannot load NSS modules of the system's glibc, so users and groups
# that come from LDAP, sss or systemd are not found by runuid and runtool -u, only those in
# /etc/passwd and /etc/group (perpd, always dynamic, resolves -g through NSS either way). A
# drop-in replacement must not surprise, so static is never chosen for you.
#
# BUILDDIR is where perpd (and the separate programs) are taken from, MULTICALL_DIR where
# perp-multicall is (defaults: the release directory of CARGO_TARGET_DIR, or target/release;
# target/HOST/release for a static perp-multicall); install builds what is missing there.

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share
COMPDIR_BASH ?= $(DATADIR)/bash-completion/completions
COMPDIR_ZSH ?= $(DATADIR)/zsh/site-functions
DESTDIR ?=

CARGO ?= cargo
RUSTC ?= rustc
CARGO_TARGET_DIR ?= target
MULTICALL ?= yes

STATIC ?= no

HOST = $(shell $(RUSTC) -vV 2>/dev/null | sed -n 's/^host: //p')
BUILDDIR ?= $(CARGO_TARGET_DIR)/release
ifeq ($(STATIC),yes)
ifeq ($(findstring -linux-,$(HOST)),)
$(error STATIC=yes links with crt-static, which this Makefile offers on Linux only (host: $(HOST)))
endif
MULTICALL_FLAGS = --target $(HOST) --config 'target.$(HOST).rustflags = ["-C", "target-feature=+crt-static"]'
MULTICALL_DIR ?= $(CARGO_TARGET_DIR)/$(HOST)/release
else
MULTICALL_FLAGS =
MULTICALL_DIR ?= $(BUILDDIR)
endif

INSTALL ?= install
BINMODE ?= 0755
MANMODE ?= 0644

# The perp core programs, the loggers and the runtools (the cat* test helpers are not
# installed, as in perp 2.07).
PERP_PROGS = perpd perpctl perpls perpstat perpok perphup perpwatch perpboot perp-setup
LOG_PROGS = tinylog tinylog_run sissylog
RUN_PROGS = runargs runargv0 runchoom rundetach rundeux runenv runfile runlimit runlock \
	runpause runsession runtool runtrap runuid
PROGS = $(PERP_PROGS) $(LOG_PROGS) $(RUN_PROGS)

MAN5 = perpetrate.5
MAN8 = $(PROGS:=.8) perp_intro.8 runtools_intro.8

.PHONY: all build install install-bin install-man install-completions uninstall \
	uninstall-completions lint-man list

all: build

ifeq ($(MULTICALL),yes)
build:
	$(CARGO) build --release -p perp --bin perpd
	$(CARGO) build --release $(MULTICALL_FLAGS) -p multicall
else
build:
	$(CARGO) build --release -p perp -p runtools
endif

install: install-bin install-man

install-bin:
	$(INSTALL) -d -m 0755 "$(DESTDIR)$(SBINDIR)"
ifeq ($(MULTICALL),yes)
	@{ test -x "$(BUILDDIR)/perpd" && test -x "$(MULTICALL_DIR)/perp-multicall"; } || $(MAKE) build
	$(INSTALL) -m $(BINMODE) "$(BUILDDIR)/perpd" "$(DESTDIR)$(SBINDIR)/perpd"
	$(INSTALL) -m $(BINMODE) "$(MULTICALL_DIR)/perp-multicall" "$(DESTDIR)$(SBINDIR)/perpctl"
	@for p in $(filter-out perpd perpctl,$(PROGS)); do \
		echo "ln -f $(DESTDIR)$(SBINDIR)/perpctl $(DESTDIR)$(SBINDIR)/$$p"; \
		ln -f "$(DESTDIR)$(SBINDIR)/perpctl" "$(DESTDIR)$(SBINDIR)/$$p" || exit 1; \
	done
else
	@test -x "$(BUILDDIR)/perpd" || $(MAKE) build
	@for p in $(PROGS); do \
		test -x "$(BUILDDIR)/$$p" || { echo "make: $(BUILDDIR)/$$p is missing (run make first)" >&2; exit 1; }; \
		echo "$(INSTALL) -m $(BINMODE) $(BUILDDIR)/$$p $(DESTDIR)$(SBINDIR)/$$p"; \
		$(INSTALL) -m $(BINMODE) "$(BUILDDIR)/$$p" "$(DESTDIR)$(SBINDIR)/$$p" || exit 1; \
	done
endif

install-man:
	$(INSTALL) -d -m 0755 "$(DESTDIR)$(MANDIR)/man5" "$(DESTDIR)$(MANDIR)/man8"
	@for m in $(MAN5); do \
		echo "$(INSTALL) -m $(MANMODE) man/$$m $(DESTDIR)$(MANDIR)/man5/$$m"; \
		$(INSTALL) -m $(MANMODE) "man/$$m" "$(DESTDIR)$(MANDIR)/man5/$$m" || exit 1; \
	done
	@for m in $(MAN8); do \
		echo "$(INSTALL) -m $(MANMODE) man/$$m $(DESTDIR)$(MANDIR)/man8/$$m"; \
		$(INSTALL) -m $(MANMODE) "man/$$m" "$(DESTDIR)$(MANDIR)/man8/$$m" || exit 1; \
	done

install-completions:
	$(INSTALL) -d -m 0755 "$(DESTDIR)$(COMPDIR_BASH)" "$(DESTDIR)$(COMPDIR_ZSH)"
	@for p in perpctl perpls perpstat perpok perphup perpwatch; do \
		echo "$(INSTALL) -m $(MANMODE) completions/perp.bash $(DESTDIR)$(COMPDIR_BASH)/$$p"; \
		$(INSTALL) -m $(MANMODE) completions/perp.bash "$(DESTDIR)$(COMPDIR_BASH)/$$p" || exit 1; \
	done
	$(INSTALL) -m $(MANMODE) completions/_perp "$(DESTDIR)$(COMPDIR_ZSH)/_perp"

uninstall: uninstall-completions
	@for p in $(PROGS); do \
		echo "rm -f $(DESTDIR)$(SBINDIR)/$$p"; rm -f "$(DESTDIR)$(SBINDIR)/$$p"; \
	done
	@for m in $(MAN5); do \
		echo "rm -f $(DESTDIR)$(MANDIR)/man5/$$m"; rm -f "$(DESTDIR)$(MANDIR)/man5/$$m"; \
	done
	@for m in $(MAN8); do \
		echo "rm -f $(DESTDIR)$(MANDIR)/man8/$$m"; rm -f "$(DESTDIR)$(MANDIR)/man8/$$m"; \
	done

uninstall-completions:
	@for p in perpctl perpls perpstat perpok perphup perpwatch; do \
		rm -f "$(DESTDIR)$(COMPDIR_BASH)/$$p"; \
	done
	rm -f "$(DESTDIR)$(COMPDIR_ZSH)/_perp"

# mandoc's lint, as CI runs it: no output means every page is clean.
lint-man:
	mandoc -Tlint -Wwarning man/*.5 man/*.8

# What install puts where, one path a line (used by the packaging test).
list:
	@for p in $(PROGS); do echo "$(SBINDIR)/$$p"; done
	@for m in $(MAN5); do echo "$(MANDIR)/man5/$$m"; done
	@for m in $(MAN8); do echo "$(MANDIR)/man8/$$m"; done
