# Build and install perp, laid out as perp 2.07's conf.mk did: every program in SBINDIR,
# perpetrate(5) in MANDIR/man5 and the other pages in MANDIR/man8.
#
#   make                          cargo build --release (the multi-call executable)
#   make install                  install into $(DESTDIR)$(SBINDIR) and $(DESTDIR)$(MANDIR)
#   make install DESTDIR=/tmp/pkg PREFIX=/usr
#   make uninstall                remove exactly what install put there
#   make install-completions      bash and zsh completions (COMPDIR_BASH, COMPDIR_ZSH)
#
# MULTICALL=yes (the default) builds perp-multicall, one executable holding all 25 programs,
# and installs it once under every program's name: perpd, and the other 24 names as hard links
# to it. The name a program is run as picks it, so names, options, messages and exit codes
# are those of the separate programs; the install is about 1.7 MiB instead of 8. MULTICALL=no
# builds and installs the 25 separate programs instead.
#
# STATIC=yes links statically (crt-static), which saves the dynamic loader's work at every
# start: a perpstat or a runtool starts about 0.2 ms sooner. It is the default for the
# multi-call executable where the host is Linux with glibc; glibc then reads users and groups
# from /etc/passwd and /etc/group itself, while other NSS sources (LDAP, sss, systemd) are
# loaded at run time and must be of the glibc version it was built with: build with
# STATIC=no for those. On other systems STATIC=no is the default.
#
# BUILDDIR is where the binaries are taken from (default: the release directory of
# CARGO_TARGET_DIR, or target/release; target/HOST/release for a static build); install
# builds them first if they are missing there.

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

HOST := $(shell $(RUSTC) -vV 2>/dev/null | sed -n 's/^host: //p')
ifeq ($(MULTICALL)$(findstring -linux-gnu,$(HOST)),yes-linux-gnu)
STATIC ?= yes
else
STATIC ?= no
endif
ifeq ($(STATIC),yes)
CARGO_FLAGS = --target $(HOST) --config 'target.$(HOST).rustflags = ["-C", "target-feature=+crt-static"]'
BUILDDIR ?= $(CARGO_TARGET_DIR)/$(HOST)/release
else
CARGO_FLAGS =
BUILDDIR ?= $(CARGO_TARGET_DIR)/release
endif
ifeq ($(MULTICALL),yes)
CARGO_PKGS = -p multicall
BUILT = perp-multicall
else
CARGO_PKGS = -p perp -p runtools
BUILT = perpd
endif

INSTALL ?= install
BINMODE ?= 0755
MANMODE ?= 0644

# The perp core programs, the loggers and the runtools (the cat* test helpers are not
# installed, as in perp 2.07).
PERP_PROGS = perpd perpctl perpls perpstat perpok perphup perpboot perp-setup
LOG_PROGS = tinylog tinylog_run sissylog
RUN_PROGS = runargs runargv0 runchoom rundetach rundeux runenv runfile runlimit runlock \
	runpause runsession runtool runtrap runuid
PROGS = $(PERP_PROGS) $(LOG_PROGS) $(RUN_PROGS)

MAN5 = perpetrate.5
MAN8 = $(PROGS:=.8) perp_intro.8 runtools_intro.8

.PHONY: all build install install-bin install-man install-completions uninstall \
	uninstall-completions lint-man list

all: build

build:
	$(CARGO) build --release $(CARGO_FLAGS) $(CARGO_PKGS)

install: install-bin install-man

install-bin:
	@test -x "$(BUILDDIR)/$(BUILT)" || $(MAKE) build
	$(INSTALL) -d -m 0755 "$(DESTDIR)$(SBINDIR)"
ifeq ($(MULTICALL),yes)
	$(INSTALL) -m $(BINMODE) "$(BUILDDIR)/perp-multicall" "$(DESTDIR)$(SBINDIR)/perpd"
	@for p in $(filter-out perpd,$(PROGS)); do \
		echo "ln -f $(DESTDIR)$(SBINDIR)/perpd $(DESTDIR)$(SBINDIR)/$$p"; \
		ln -f "$(DESTDIR)$(SBINDIR)/perpd" "$(DESTDIR)$(SBINDIR)/$$p" || exit 1; \
	done
else
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
	@for p in perpctl perpls perpstat perpok perphup; do \
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
	@for p in perpctl perpls perpstat perpok perphup; do \
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
