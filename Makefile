# Build and install perp, laid out as perp 2.07's conf.mk did: every program in SBINDIR,
# perpetrate(5) in MANDIR/man5 and the other pages in MANDIR/man8.
#
#   make                          cargo build --release
#   make install                  install into $(DESTDIR)$(SBINDIR) and $(DESTDIR)$(MANDIR)
#   make install DESTDIR=/tmp/pkg PREFIX=/usr
#   make uninstall                remove exactly what install put there
#   make install-completions      bash and zsh completions (COMPDIR_BASH, COMPDIR_ZSH)
#
# BUILDDIR is where the binaries are taken from (default: the release directory of
# CARGO_TARGET_DIR, or target/release); install builds them first if perpd is missing there.

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share
COMPDIR_BASH ?= $(DATADIR)/bash-completion/completions
COMPDIR_ZSH ?= $(DATADIR)/zsh/site-functions
DESTDIR ?=

CARGO ?= cargo
CARGO_TARGET_DIR ?= target
BUILDDIR ?= $(CARGO_TARGET_DIR)/release

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

build:
	$(CARGO) build --release -p perp -p runtools

install: install-bin install-man

install-bin:
	@test -x "$(BUILDDIR)/perpd" || $(MAKE) build
	$(INSTALL) -d -m 0755 "$(DESTDIR)$(SBINDIR)"
	@for p in $(PROGS); do \
		test -x "$(BUILDDIR)/$$p" || { echo "make: $(BUILDDIR)/$$p is missing (run make first)" >&2; exit 1; }; \
		echo "$(INSTALL) -m $(BINMODE) $(BUILDDIR)/$$p $(DESTDIR)$(SBINDIR)/$$p"; \
		$(INSTALL) -m $(BINMODE) "$(BUILDDIR)/$$p" "$(DESTDIR)$(SBINDIR)/$$p" || exit 1; \
	done

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
