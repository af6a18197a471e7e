#!/usr/bin/env bash
# Builds the guest that the kvm tests boot: Debian's cloud kernel (from apt, as CI gets it) and a tiny
# busybox initramfs. Its init prints CORRAL-GUEST-READY on the serial console once it can answer the
# hypervisor, then keeps running: an ACPI power button press (QMP system_powerdown) powers it off, and
# ctrl-alt-delete (QMP send-key) reboots it, as a real distribution would. A shell runs on ttyS0.
#
# Usage: scripts/test-guest.sh [DIR]; DIR defaults to $CORRAL_TEST_GUEST_DIR, then /var/cache/corral/test-guest.
# Idempotent: the kernel is downloaded once; the initramfs is rebuilt (in a second) so that it follows this
# script. Needs busybox-static, cpio and an apt whose lists are current (apt-get update).
set -euo pipefail

dir="${1:-${CORRAL_TEST_GUEST_DIR:-/var/cache/corral/test-guest}}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

busybox=/bin/busybox
# The initramfs has no libc, so busybox must be the static build.
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
  echo "test-guest: busybox-static is not installed; apt-get install busybox-static" >&2
  exit 1
fi
command -v cpio >/dev/null || { echo "test-guest: cpio is missing; install cpio" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The modules the guest loads, in load order: ACPI's power button and evdev (which busybox acpid reads), and
# the virtio PCI stack with virtio_blk, so that the guest sees its disks as /dev/vd*.
modules=(evdev button virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk)
have_modules() {
  for m in "${modules[@]}"; do [[ -s "$dir/modules/$m.ko" ]] || return 1; done
}

# The kernel: the metapackage only depends on the versioned image package, which holds the vmlinuz.
if [[ ! -s "$dir/vmlinuz" ]] || ! have_modules; then
  pkg="$(apt-cache depends linux-image-cloud-amd64 |
    awk '$1 ~ /Depends:$/ && $2 ~ /^linux-image-[0-9].*-cloud-amd64$/ { print $2; exit }')"
  if [[ -z "$pkg" ]]; then
    echo "test-guest: apt does not know linux-image-cloud-amd64; run apt-get update first" >&2
    exit 1
  fi
  # apt-get download writes into the current directory; _apt cannot write into mktemp's 0700 dir, which
  # only costs a warning when running as root.
  (cd "$work" && apt-get download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  deb="$(ls "$work"/"$pkg"_*.deb)"
  dpkg -x "$deb" "$work/root"
  release="${pkg#linux-image-}"
  rm -rf "$dir/modules.new" && mkdir -p "$dir/modules.new"
  for m in "${modules[@]}"; do
    find "$work/root/lib/modules/$release/kernel" -name "$m.ko" -exec cp {} "$dir/modules.new/" \;
    [[ -s "$dir/modules.new/$m.ko" ]] || { echo "test-guest: $pkg has no $m.ko" >&2; exit 1; }
  done
  cp "$work/root/boot/vmlinuz-$release" "$dir/vmlinuz.new"
  echo "$release" >"$dir/kernel-release"
  rm -rf "$dir/modules" && mv "$dir/modules.new" "$dir/modules"
  mv "$dir/vmlinuz.new" "$dir/vmlinuz"
fi

# The initramfs.
root="$work/initramfs"
mkdir -p "$root"/{bin,dev,etc/acpi/PWRF,lib/modules,proc,sys,tmp,root,var/log,var/run}
cp "$busybox" "$root/bin/busybox"
cp "$dir/modules/"*.ko "$root/lib/modules/"

cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec /bin/init
EOF

cat >"$root/etc/inittab" <<'EOF'
::sysinit:/etc/rc
ttyS0::respawn:-/bin/sh
::ctrlaltdel:/etc/stop reboot
EOF

printf '%s\n' "${modules[@]}" >"$root/etc/modules"

cat >"$root/etc/rc" <<'EOF'
#!/bin/sh
while read -r m; do insmod "/lib/modules/$m.ko"; done </etc/modules
# acpid runs /etc/acpi/PWRF/00000080 when the power button is pressed. The marker below promises that a
# press is heard, so wait for the input devices, then for acpid to hold them open.
for _ in $(seq 50); do ls /dev/input/event* >/dev/null 2>&1 && break; usleep 100000; done
acpid -f &
for _ in $(seq 50); do ls -l /proc/$!/fd 2>/dev/null | grep -q /dev/input/event && break; usleep 100000; done
hostname corral-guest
echo CORRAL-GUEST-READY
EOF

# Nothing in this guest needs an orderly shutdown beyond a sync, and busybox init's own spends seconds
# between its signals: the tests stop and reboot guests often.
cat >"$root/etc/stop" <<'EOF'
#!/bin/sh
echo "CORRAL-GUEST-STOPPING ($1)" >/dev/console
sync
"$1" -f
EOF

cat >"$root/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
exec /etc/stop poweroff
EOF

chmod 755 "$root/init" "$root/etc/rc" "$root/etc/stop" "$root/etc/acpi/PWRF/00000080"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -9) >"$dir/initramfs.cpio.gz.new"
mv "$dir/initramfs.cpio.gz.new" "$dir/initramfs.cpio.gz"

echo "kernel: $dir/vmlinuz ($(cat "$dir/kernel-release"))"
echo "initrd: $dir/initramfs.cpio.gz"
