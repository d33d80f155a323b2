#!/usr/bin/env bash
# vtui testbed: local dockerd + libvirtd (qemu:///system) with a tiny busybox
# docker image and a tiny busybox VM template, for developing/testing vtui without systemd.
#
#   scripts/testbed.sh [up]     install what is missing, start daemons, build image and VM template
#   scripts/testbed.sh down     stop the daemons that this script started (by pidfile)
#   scripts/testbed.sh status   show what runs and what is in place
#   scripts/testbed.sh check-vm boot a VM of the template once, wait for its shell prompt, remove it
#   scripts/testbed.sh tools    list the tools the suite runs and the package of each
#
# The test bed defines no VM of its own: the VM is a domain XML template ($VM_XML) that each
# test run defines under a name of its own (tests/conftest.py), so a user's VMs are never touched.
set -euo pipefail

RUN_DIR=/run/vtui-testbed
LOG_DIR=/var/log/vtui-testbed
LIB_DIR=/var/lib/vtui-testbed
BOOT_DIR=/var/lib/libvirt/boot
KERNEL=$BOOT_DIR/vtui-test-vmlinuz
INITRD=$BOOT_DIR/vtui-test-initrd.img
MODULES_DIR=$LIB_DIR/guest-modules
# virtio-net and what it needs, in load order (the cloud kernel builds them as modules)
GUEST_MODULES=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net)
VM_XML=$LIB_DIR/vm.xml
IMAGE=vtui-test/busybox:latest
IMAGE_LABEL=vtui.testbed
VIRSH=(virsh -q -c qemu:///system)
# Every program vtui, the tests, the benchmarks and this script run, and the Debian package
# that provides it (tests/test_testbed.py checks this table against the code and against dpkg).
# A program is looked for on PATH and in the sbin directories; a missing one installs its package.
# Programs of Essential packages (coreutils, dash, util-linux, …) are on every Debian machine.
declare -A TOOLS=(
  [dockerd]=docker.io [docker]=docker.io [containerd]=containerd [runc]=runc [iptables]=iptables
  [libvirtd]=libvirt-daemon [virtlogd]=libvirt-daemon [virsh]=libvirt-clients [virt-admin]=libvirt-clients
  [qemu-system-x86_64]=qemu-system-x86 [qemu-img]=qemu-utils
  [sshd]=openssh-server [ssh]=openssh-client [ssh-keygen]=openssh-client [ssh-agent]=openssh-client
  [ssh-add]=openssh-client
  [busybox]=busybox-static [cpio]=cpio [gzip]=gzip [tmux]=tmux [ip]=iproute2 [tc]=iproute2
  [fuser]=psmisc [nc]=netcat-openbsd [tini]=tini [apt-get]=apt [dpkg]=dpkg
  [useradd]=passwd [userdel]=passwd [mount]=mount [umount]=mount [ethtool]=ethtool [tcpdump]=tcpdump
  [nsenter]=util-linux
)
# Packages needed for what they hold rather than for a program: the qemu driver of libvirtd, the
# daemon's set-up (virtqemud groups, default paths), and a static busybox to copy into images.
PACKAGES=(libvirt-daemon-system libvirt-daemon-driver-qemu busybox-static)
DAEMONS=(virtlogd libvirtd dockerd) # start order; stopped in reverse
PATH=$PATH:/usr/sbin:/sbin
TMP=""
CHECK_TMUX=""
CHECK_VM="" # the transient VM check-vm runs, destroyed with its log on the way out whatever happens

say() { printf 'testbed: %s\n' "$*"; }
die() { printf 'testbed: ERROR: %s\n' "$*" >&2; exit 1; }
tmpdir() { [ -n "$TMP" ] || TMP=$(mktemp -d /tmp/vtui-testbed.XXXXXX); }
cleanup() {
  if [ -n "$CHECK_VM" ]; then
    "${VIRSH[@]}" destroy "$CHECK_VM" >/dev/null 2>&1 || true
    rm -f "/var/log/libvirt/qemu/$CHECK_VM.log"
  fi
  [ -z "$CHECK_TMUX" ] || tmux -L vtui-testbed kill-server 2>/dev/null || true
  [ -z "$TMP" ] || rm -rf "$TMP"
}
trap cleanup EXIT

# --- packages ----------------------------------------------------------------
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 "$@"; }
wait_dpkg_lock() {
  local n=0
  while fuser /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock >/dev/null 2>&1; do
    ((n++ % 15)) || say "waiting for another apt/dpkg run to finish..."
    sleep 2
  done
}
installed() { [ "$(dpkg-query -W -f="\${db:Status-Status}" "$1" 2>/dev/null)" = installed ]; }
# The packages to install: those of PACKAGES not installed, and the package of each missing program.
missing_tools() { # lines "program package"
  local tool
  for tool in "${!TOOLS[@]}"; do command -v "$tool" >/dev/null || echo "$tool ${TOOLS[$tool]}"; done
}
missing_packages() {
  local p
  { for p in "${PACKAGES[@]}"; do installed "$p" || echo "$p"; done; missing_tools | cut -d' ' -f2; } | sort -u
}
ensure_packages() {
  local missing
  mapfile -t missing < <(missing_packages)
  ((${#missing[@]})) || return 0
  say "installing ${missing[*]}... (log: $LOG_DIR/apt.log)"
  wait_dpkg_lock
  { apt_get update && apt_get install -y "${missing[@]}"; } >>"$LOG_DIR/apt.log" 2>&1 ||
    die "apt-get failed; see $LOG_DIR/apt.log"
  mapfile -t missing < <(missing_tools)
  ((${#missing[@]} == 0)) || die "still missing after apt-get install (program, package): ${missing[*]}; apt-get install --reinstall the package"
}

# --- daemons -----------------------------------------------------------------
probe() {
  case $1 in
    virtlogd) virt-admin -c virtlogd:///system version >/dev/null 2>&1 ;;
    libvirtd) virsh -c qemu:///system version >/dev/null 2>&1 ;;
    dockerd) docker info >/dev/null 2>&1 ;;
  esac
}
# PID from our pidfile, if that process is alive and still is the daemon we started.
our_pid() {
  local pid
  [ -e "$RUN_DIR/$1.ours" ] && pid=$(cat "$RUN_DIR/$1.pid" 2>/dev/null) || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 1
  [[ $(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) != Z* ]] && echo "$pid"
}
start_daemon() {
  local name=$1 log=$LOG_DIR/$1.log pid i
  if probe "$name"; then return 0; fi
  our_pid "$name" >/dev/null || rm -f "$RUN_DIR/$name.pid" "$RUN_DIR/$name.ours"
  say "starting $name... (log: $log)"
  # own session, no inherited fds beyond 0-2, foreground mode so $! is the daemon's PID
  (
    for fd in /proc/self/fd/*; do fd=${fd##*/}; if ((fd > 2)); then eval "exec $fd>&-"; fi; done
    exec setsid "$name"
  ) </dev/null >>"$log" 2>&1 &
  pid=$!
  echo "$pid" >"$RUN_DIR/$name.pid"
  touch "$RUN_DIR/$name.ours"
  for ((i = 0; i < 60; i++)); do
    probe "$name" && return 0
    if ! our_pid "$name" >/dev/null; then
      rm -f "$RUN_DIR/$name.pid" "$RUN_DIR/$name.ours"
      tail -n 5 "$log" >&2
      die "$name exited during startup; see $log"
    fi
    sleep 0.5
  done
  tail -n 5 "$log" >&2
  die "$name (pid $pid) did not answer within 30 s; see $log"
}
stop_daemon() {
  local name=$1 pid i
  [ -e "$RUN_DIR/$name.ours" ] || { say "$name: not started by testbed, leaving it alone"; return 0; }
  if pid=$(our_pid "$name"); then
    say "stopping $name (pid $pid)..."
    kill -TERM "$pid"
    for ((i = 0; i < 60; i++)); do our_pid "$name" >/dev/null || break; sleep 0.5; done
    if our_pid "$name" >/dev/null; then say "$name still alive after 30 s, sending KILL"; kill -KILL "$pid"; fi
  else
    say "$name: recorded process is gone"
  fi
  rm -f "$RUN_DIR/$name.pid" "$RUN_DIR/$name.ours"
}

# --- busybox trees (docker image rootfs and VM initramfs) ----------------------
busybox_tree() {
  local root=$1 applet
  mkdir -p "$root"/{bin,etc,tmp,proc,sys,dev,root}
  chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
}
ensure_image() {
  local label
  if label=$(docker image inspect -f "{{index .Config.Labels \"$IMAGE_LABEL\"}}" "$IMAGE" 2>/dev/null); then
    [ "$label" = 1 ] || die "an image named $IMAGE exists and was not built by the test bed (no label $IMAGE_LABEL); rename or remove it"
  else
    say "building docker image $IMAGE..."
    tmpdir
    busybox_tree "$TMP/rootfs"
    tar -C "$TMP/rootfs" -c . |
      docker import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' -c "LABEL $IMAGE_LABEL=1" - "$IMAGE" >/dev/null
  fi
  [ "$(docker run --rm "$IMAGE" sh -c 'echo ok' 2>&1)" = ok ] || die "docker run of $IMAGE failed"
}

# --- VM: kernel, initramfs, domain ------------------------------------------------
ensure_kernel() {
  local pkg vmlinuz m
  [ -s "$KERNEL" ] && [ -s "$MODULES_DIR/virtio_net.ko" ] && return 0
  tmpdir
  wait_dpkg_lock
  pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-.*-cloud-amd64\)$/\1/p' | head -n1)
  if [ -z "$pkg" ]; then
    apt_get update >>"$LOG_DIR/apt.log" 2>&1 || die "apt-get update failed; see $LOG_DIR/apt.log"
    pkg=$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/^ *Depends: \(linux-image-.*-cloud-amd64\)$/\1/p' | head -n1)
  fi
  [ -n "$pkg" ] || die "cannot resolve linux-image-cloud-amd64 to a kernel package"
  say "downloading kernel $pkg..."
  mkdir -p "$TMP/kernel" && chmod 711 "$TMP" && chown _apt "$TMP/kernel" # apt downloads as _apt
  (cd "$TMP/kernel" && apt_get download "$pkg" >>"$LOG_DIR/apt.log" 2>&1) || die "apt-get download $pkg failed; see $LOG_DIR/apt.log"
  dpkg -x "$TMP/kernel/${pkg}"_*.deb "$TMP/kernel/x"
  vmlinuz=$(find "$TMP/kernel/x/boot" -name 'vmlinuz-*' | head -n1)
  [ -n "$vmlinuz" ] || die "no boot/vmlinuz-* in $pkg"
  mkdir -p "$BOOT_DIR"
  install -m 644 "$vmlinuz" "$KERNEL.new" && mv "$KERNEL.new" "$KERNEL"
  mkdir -p "$MODULES_DIR" # the guest's NIC drivers, loaded by its init: links hot-plug virtio NICs
  for m in "${GUEST_MODULES[@]}"; do
    find "$TMP/kernel/x/lib/modules" -name "$m.ko" -exec install -m 644 {} "$MODULES_DIR/" \; -quit
    [ -s "$MODULES_DIR/$m.ko" ] || die "no $m.ko in $pkg"
  done
  echo "$pkg" >"$KERNEL.pkg"
}
init_script() {
  cat <<'EOF'
#!/bin/sh
# PID 1 of the vtui test VM: serial root shell, respawned forever; no acpid, so
# the ACPI power button (virsh shutdown) is ignored on purpose.
export PATH=/bin HOME=/root TERM=vt100
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
hostname vtui-test-vm
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci failover net_failover virtio_net; do
  insmod /lib/modules/$m.ko 2>/dev/null # NICs that links hot-plug
done
dmesg -n 1 # keep late kernel messages off the serial shell
exec </dev/console >/dev/console 2>&1
echo "vtui-test-vm: init ready"
export PS1='\w # '
while :; do
  setsid cttyhack sh -l
  sleep 1
done
EOF
}
ensure_initrd() {
  local want
  want=$({ init_script; sha256sum </bin/busybox; cat "$MODULES_DIR"/*.ko | sha256sum; } | sha256sum | cut -d' ' -f1)
  [ -s "$INITRD" ] && [ "$(cat "$INITRD.stamp" 2>/dev/null)" = "$want" ] && return 0
  say "building initramfs $INITRD..."
  tmpdir
  busybox_tree "$TMP/initrd"
  init_script >"$TMP/initrd/init" && chmod 755 "$TMP/initrd/init"
  mkdir -p "$TMP/initrd/lib/modules" && cp "$MODULES_DIR"/*.ko "$TMP/initrd/lib/modules/"
  mknod -m 600 "$TMP/initrd/dev/console" c 5 1
  (cd "$TMP/initrd" && find . | cpio -o -H newc -R 0:0 --quiet | gzip -9) >"$INITRD.new"
  chmod 644 "$INITRD.new" && mv "$INITRD.new" "$INITRD"
  echo "$want" >"$INITRD.stamp"
}
domain_xml() { # name
  cat <<EOF
<domain type='qemu'>
  <name>$1</name>
  <description>vtui testbed VM: busybox initramfs, serial console, ignores ACPI shutdown</description>
  <memory unit='MiB'>192</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$KERNEL</kernel>
    <initrd>$INITRD</initrd>
    <cmdline>console=ttyS0 panic=-1</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <controller type='usb' model='none'/>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}
ensure_template() {
  mkdir -p "$LIB_DIR"
  domain_xml vtui-test-vm >"$VM_XML.new" && mv "$VM_XML.new" "$VM_XML"
}

# --- subcommands -------------------------------------------------------------------
cmd_up() {
  local t0=$EPOCHREALTIME d
  ensure_packages
  for d in "${DAEMONS[@]}"; do start_daemon "$d"; done
  ensure_image
  ensure_kernel
  ensure_initrd
  ensure_template
  say "up: ok ($(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s)"
}
cmd_down() {
  local i n
  for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
    if [ "${DAEMONS[i]}" = libvirtd ] && probe libvirtd && our_pid libvirtd >/dev/null; then
      n=$("${VIRSH[@]}" list --name | grep -c . || true)
      ((n == 0)) || say "note: $n running domain(s) keep running without libvirtd"
    fi
    stop_daemon "${DAEMONS[i]}"
  done
}
cmd_status() {
  local d pid state missing
  missing=$(missing_packages | paste -sd' ')
  say "packages: ${missing:+missing: }${missing:-all installed}"
  for d in "${DAEMONS[@]}"; do
    if pid=$(our_pid "$d"); then state="started by testbed, pid $pid"; else state="not started by testbed"; fi
    if probe "$d"; then say "$d: answering ($state)"; else say "$d: NOT answering ($state)"; fi
  done
  if probe dockerd; then
    if docker image inspect "$IMAGE" >/dev/null 2>&1; then say "image $IMAGE: present"; else say "image $IMAGE: missing"; fi
  fi
  if [ -s "$KERNEL" ]; then say "kernel: $KERNEL ($(cat "$KERNEL.pkg" 2>/dev/null || echo '?'))"; else say "kernel: missing"; fi
  if [ -s "$INITRD" ]; then say "initrd: $INITRD"; else say "initrd: missing"; fi
  if [ -s "$VM_XML" ]; then say "VM template: $VM_XML"; else say "VM template: missing"; fi
}
cmd_check_vm() {
  local t0 t1 i pane="" vm="vtui-testbed-check-$$"
  say "booting $vm (transient, of the template) and waiting for its shell prompt..."
  tmpdir
  domain_xml "$vm" >"$TMP/check.xml"
  CHECK_TMUX=1 CHECK_VM=$vm
  t0=$EPOCHREALTIME
  tmux -L vtui-testbed new-session -d -s check -x 200 -y 50 \
    "virsh -c qemu:///system create $TMP/check.xml --console; echo \"[virsh exited: \$?]\"; sleep 300"
  for ((i = 1; i <= 240; i++)); do
    pane=$(tmux -L vtui-testbed capture-pane -p -t check -S -)
    grep -q '^\[virsh exited' <<<"$pane" && break
    grep -qE '^/ #( |$)' <<<"$pane" && break
    ((i % 2)) || tmux -L vtui-testbed send-keys -t check Enter # early output may predate the console
    sleep 0.5
  done
  t1=$EPOCHREALTIME
  if grep -qE '^/ #( |$)' <<<"$pane"; then
    tmux -L vtui-testbed send-keys -t check "echo VTUI_\$((6*7)) \$(tty); jobs" Enter
    for ((i = 0; i < 20; i++)); do
      pane=$(tmux -L vtui-testbed capture-pane -p -t check -S -) && grep -q 'VTUI_42 /dev/ttyS0' <<<"$pane" && break
      sleep 0.5
    done
  fi
  if ! grep -q 'VTUI_42 /dev/ttyS0' <<<"$pane" || grep -q 'job control turned off' <<<"$pane"; then
    tail -n 20 <<<"$pane" >&2
    die "VM did not reach a working shell prompt (see above)"
  fi
  say "check-vm: ok, prompt after $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s; command ran on /dev/ttyS0 with job control"
}

[ "$(id -u)" = 0 ] || die "must run as root"
mkdir -p "$RUN_DIR" "$LOG_DIR"
cd /
case ${1:-up} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  check-vm) cmd_up && cmd_check_vm ;;
  tools) for t in "${!TOOLS[@]}"; do echo "$t ${TOOLS[$t]}"; done | sort ;;
  *) die "usage: $0 [up|down|status|check-vm|tools]" ;;
esac
