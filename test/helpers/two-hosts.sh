#!/usr/bin/env bash
# A second "host" on this machine for the multi-host tests (docs/cluster.md): a network namespace joined to
# this one by a veth pair, with its own hostname and an sshd that accepts one key. Both hosts share the
# filesystem, as cluster nodes share theirs.
#
#   test/helpers/two-hosts.sh up DIR      prints KEY=VALUE lines: LOCAL, REMOTE (addresses), HOSTNAME, KEY, SSH_ARGS
#   test/helpers/two-hosts.sh link up|down DIR
#   test/helpers/two-hosts.sh down DIR
# Needs root (ip netns, veth) and /usr/sbin/sshd (Debian openssh-server; infra/install.sh installs it).
set -euo pipefail
cmd=$1
dir=${!#}
ns=subtomo-$(basename "$dir")
ns=${ns:0:15}
veth_a=sta-${ns: -6}
veth_b=stb-${ns: -6}
local_ip=10.199.$((RANDOM % 200 + 1)).1

# Removes the namespace and its link, and ends what runs in it (also what a killed test run left behind).
teardown() {
  ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  ip link del "$veth_a" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
}

case "$cmd" in
  up)
    mkdir -p "$dir"
    teardown
    remote_ip=${local_ip%.1}.2
    ip netns add "$ns"
    ip link add "$veth_a" type veth peer name "$veth_b"
    ip link set "$veth_b" netns "$ns"
    ip addr add "$local_ip/24" dev "$veth_a"
    ip link set "$veth_a" up
    ip netns exec "$ns" ip addr add "$remote_ip/24" dev "$veth_b"
    ip netns exec "$ns" ip link set "$veth_b" up
    ip netns exec "$ns" ip link set lo up
    ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key" <<<y >/dev/null
    ssh-keygen -q -t ed25519 -N '' -f "$dir/id" <<<y >/dev/null
    cp "$dir/id.pub" "$dir/authorized_keys"
    cat >"$dir/sshd_config" <<CONF
ListenAddress $remote_ip
Port 22
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
StrictModes no
UsePAM no
AcceptEnv *
PermitUserEnvironment yes
CONF
    mkdir -p /run/sshd
    # Its own hostname (UTS namespace), so ranks there report a host name of their own.
    ip netns exec "$ns" unshare --uts sh -c "hostname $ns && exec /usr/sbin/sshd -f $dir/sshd_config -E $dir/sshd.log"
    printf '%s\n' "$ns" >"$dir/netns"
    echo "LOCAL=$local_ip"
    echo "REMOTE=$remote_ip"
    echo "HOSTNAME=$ns"
    echo "KEY=$dir/id"
    echo "SSH_ARGS=-i $dir/id -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes"
    ;;
  link)
    ip link set "$veth_a" "$2"
    ;;
  down)
    [ -f "$dir/sshd.pid" ] && kill "$(cat "$dir/sshd.pid")" 2>/dev/null || true
    teardown
    ;;
  *)
    echo "usage: $0 up|down|link up|down DIR" >&2
    exit 2
    ;;
esac
