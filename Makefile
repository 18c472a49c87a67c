# mqueue developer tasks. `make` alone lists them.
JBANG ?= ./jbang
# The tools start through bin/mqueue: one JVM on the package scripts/package made (jars, AOT cache
# or CDS archive), never JBang; `package` rebuilds it when a source changed.
RUN ?= bin/mqueue
NSQ_RUN := .nsq/run
# Docker is used only when a daemon answers; otherwise NSQ runs as local processes.
DOCKER_OK = $(shell docker info >/dev/null 2>&1 && echo yes)

.DEFAULT_GOAL := help
.PHONY: help install test test-systemd up down producer consumer wakeup demo bench bench-producer bench-consumer \
	systemd-socket-activate-consumer reload-systemd-consumer install-handler package

# The seed's variables pass straight through the environment (STREAM, GROUP, TIMEOUT,
# PAYLOAD_KEYS, …); only GOROUTINES is renamed, to the producer's THREADS.
export THREADS := $(or $(GOROUTINES),$(THREADS),1)

help: ## list targets
	@awk -F ':.*## ' '/^[a-z][a-zA-Z_-]*:.*## / { printf "  make %-10s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

install: ## build or locate the NSQ v1.3.0 binaries in .nsq/bin and fetch JBang
	@scripts/install-nsq
	@$(JBANG) version >/dev/null

package: install ## package producer, consumer, wakeup into build/ for bin/mqueue (jars + AOT cache/CDS archive; quick when up to date)
	@scripts/package

test: install package ## run the whole test suite against real nsqd (TESTS="Class Class#method" for some)
	@scripts/need curl:curl systemd-socket-activate:systemd systemd-analyze:systemd
	@$(JBANG) tests/RunTests.java $(TESTS)

test-systemd: ## only the units under systemd as PID 1 (root, systemd-nspawn, debootstrap once; ~2 min)
	@$(MAKE) --no-print-directory test TESTS="SystemdTest SystemdAuthWatchdogTest SystemdLiveInstallTest"

# `up` records which mode it used, so `down` stops the same thing even if
# Docker appeared or went away in between.
up: ## start nsqlookupd, nsqd, nsqadmin (docker compose if Docker runs, else local processes)
	@mkdir -p $(NSQ_RUN)
	@if [ "$(DOCKER_OK)" = yes ]; then \
	  docker compose up -d && echo docker > $(NSQ_RUN)/mode; \
	else \
	  scripts/nsq-local up && echo local > $(NSQ_RUN)/mode; \
	fi

down: ## stop what `make up` started
	@mode=$$(cat $(NSQ_RUN)/mode 2>/dev/null || echo local); \
	if [ "$$mode" = docker ]; then docker compose down; else scripts/nsq-local down; fi; \
	rm -f $(NSQ_RUN)/mode

producer: package ## publish to STREAM (STREAM_GROUPS=a,b creates groups first; PAYLOAD_KEYS, GOROUTINES, …; see --help)
	@$(RUN) producer

bench: install ## every benchmark next to NSQ's Go tools (~9 min; alone on the machine: flock -x /tmp/mqueue-cpu.lock make bench); writes bench/RESULTS.md
	@$(JBANG) bench/Bench.java

bench-producer: install ## publish 200 B: producer --rate max vs NSQ's bench_writer, 5 pairs on a private nsqd (~2 min)
	@bench/producer.sh

consumer: package ## consume STREAM as GROUP (TIMEOUT, …; see --help)
	@$(RUN) consumer

bench-consumer: install ## consume 200 B: consumer vs NSQ's bench_reader, 5 pairs on a private nsqd (~2 min)
	@bench/consumer.sh

wakeup: package ## wake socket-activated groups that have messages waiting
	@$(RUN) wakeup

demo: install ## the whole flow on a private nsqd: groups 1, 2, 3 (split) and a socket-activated group woken by wakeup
	@scripts/demo

# Socket activation and systemd: the consumer starts on the first wake (see bench/startup.sh).
systemd-socket-activate-consumer: install ## create STREAM's topic and GROUP's channel, then the consumer behind systemd-socket-activate on $SOCKET_DIR/$GROUP.sock, in a loop (GROUP=sa-consumer, TIMEOUT, SOCKET_DIR=/run/mqueue, NSQD_HTTP_ADDRESS)
	@scripts/socket-activate-consumer

reload-systemd-consumer: ## install units + env files (DESTDIR, PREFIX=/opt/mqueue), prebuild, create topic+channel, daemon-reload
	@scripts/install-systemd

install-handler: ## install a handler script as mqueue-handler@NAME (NAME=, SCRIPT=; after reload-systemd-consumer; DESTDIR, PREFIX)
	@scripts/install-handler
