#!/bin/sh
# PID 1 of the User-Mode Linux guest the UML end-to-end tests boot
# (init=tests/uml/init.sh, root = the host's / on hostfs, read-only).
#
# Parameters come from the kernel command line as environment variables:
#   AMP_DENO   the Deno binary to run amp with (from the host, through hostfs)
#   AMP_JS     amp's bundled CLI (deno bundle of cli.ts)
#   AMP_KO     the kernel's rpmsg_client_sample.ko
#   AMP_STEPS  what to run, comma-separated: sample,status,ping,test,matrix,send,bench (default: all)
#   AMP_WAIT   seconds to wait for each step (default 120)
# Every result is one console line starting with "AMP-E2E ", which the test parses.
# The guest powers itself off at the end (sysrq o), whatever happened.

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
# Scratch space is a tmpfs on /run; /tmp stays the host's (read-only), where the
# tests keep the files the guest reads.
HOME=/run
TMPDIR=/run
DENO_DIR=/run/deno
NO_COLOR=1
export HOME TMPDIR DENO_DIR NO_COLOR

say() { echo "AMP-E2E $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
poweroff_now() {
	say "poweroff at $(uptime_s)"
	echo o >/proc/sysrq-trigger
	sleep 30
}
trap poweroff_now EXIT

mount -t proc proc /proc
mount -t sysfs sysfs /sys
grep -q ' /dev devtmpfs' /proc/mounts || mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run

WAIT=${AMP_WAIT:-120}
STEPS=${AMP_STEPS:-sample,status,ping,test,matrix,send,bench}
say "init at $(uptime_s) s; steps $STEPS"

# wait_for CONDITION SECONDS: poll every 0.1 s under a deadline.
wait_for() {
	n=0
	while ! eval "$1"; do
		n=$((n + 1))
		[ "$n" -ge "$(($2 * 10))" ] && return 1
		sleep 0.1
	done
	return 0
}

if wait_for '[ -e /dev/rpmsg_ctrl0 ] && ls /sys/bus/rpmsg/devices | grep -qv rpmsg_ctrl' "$WAIT"; then
	say "rpmsg up at $(uptime_s) s: $(ls /sys/bus/rpmsg/devices | tr '\n' ' ')"
else
	say "FAIL rpmsg: no channel within $WAIT s; /sys/bus/rpmsg: $(ls -R /sys/bus/rpmsg 2>&1 | tr '\n' ' ')"
	dmesg | grep -i -E 'virtio|vhost|rpmsg' | sed 's/^/AMP-E2E dmesg /'
	exit 1
fi

has() { case ",$STEPS," in *,"$1",*) return 0 ;; esac; return 1; }

if has sample; then
	t0=$(uptime_s)
	if insmod "$AMP_KO"; then
		wait_for '[ "$(dmesg | grep -c "rpmsg_client_sample.*incoming msg")" -ge 100 ] && dmesg | grep -q "rpmsg_client_sample.*goodbye!"' "$WAIT"
		incoming=$(dmesg | grep -c 'rpmsg_client_sample.*incoming msg')
		goodbye=$(dmesg | grep -c 'rpmsg_client_sample.*goodbye!')
		dmesg | grep 'rpmsg_client_sample' | grep -E 'new channel|incoming msg (1|100) |goodbye' | sed 's/^/AMP-E2E dmesg /'
		say "sample incoming=$incoming goodbye=$goodbye from $t0 to $(uptime_s) s"
		rmmod rpmsg_client_sample || say "rmmod failed"
	else
		say "sample insmod failed"
	fi
fi

amp() {
	"$AMP_DENO" run --allow-all "$AMP_JS" "$@"
}

if has status; then
	amp status | sed 's/^/AMP-E2E status /'
fi

for demo in ping test matrix; do
	has "$demo" || continue
	t0=$(uptime_s)
	amp rpmsg "$demo" --machine kernel --timeout 30000 >/run/out.txt 2>&1
	rc=$?
	t1=$(uptime_s)
	sed "s/^/AMP-E2E $demo: /" /run/out.txt | grep -v ': \(incoming msg\|echo test:\|matrix multiply:\)' | tail -8
	say "result $demo rc=$rc from $t0 to $t1 s"
done

if has send; then
	amp rpmsg send rpmsg-openamp-demo-channel hello from the guest --replies 1 --machine kernel \
		--timeout 30000 >/run/out.txt 2>&1
	rc=$?
	sed "s/^/AMP-E2E send: /" /run/out.txt | tail -4
	say "result send rc=$rc"
fi

if has bench; then
	# No --machine: with no amp-owned remote and /dev/rpmsg_ctrl0 present, the kernel is the default.
	amp rpmsg bench --sizes 16,496 --count 300 --warmup 20 --timeout 30000 --json >/run/out.txt 2>&1
	rc=$?
	sed "s/^/AMP-E2E bench: /" /run/out.txt | tail -2
	say "result bench rc=$rc"
	amp rpmsg bench --mode stream --size 496 --count 300 --warmup 20 --machine kernel --timeout 30000 >/run/out.txt 2>&1
	rc=$?
	sed "s/^/AMP-E2E stream: /" /run/out.txt | grep -v '|' | tail -4
	say "result stream rc=$rc"
fi

say "done at $(uptime_s) s"
