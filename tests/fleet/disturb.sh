# disturb.sh - what can go wrong with a fleet host, for fleet.sh (sourced):
# its sshd stops (connections refused, open ones dropped, the host stays up),
# its link goes down (packets vanish: timeouts), its link gets slow (tc tbf).

link_of() { # name -> "ns ifname": the far end of the host's link ("-" = the controller's netns)
  cat "$(host_dir "$1")/link"
}

qdisc_on() { # ns ifname verb qdisc-args... (ns "-" = the controller)
  local ns=$1 ifname=$2 verb=$3; shift 3
  if [ "$ns" = - ]; then tc qdisc "$verb" dev "$ifname" "$@"; else ip netns exec "$ns" tc qdisc "$verb" dev "$ifname" "$@"; fi
}

cmd_net() { # up|down name
  local ns ifname; read -r ns ifname <<<"$(link_of "$2")"
  if [ "$ns" = - ]; then ip link set "$ifname" "$1"; else ip -n "$ns" link set "$ifname" "$1"; fi
}

cmd_rate() { # name mbit|clear
  local ns ifname hostns; read -r ns ifname <<<"$(link_of "$1")"
  hostns=$(cat "$(host_dir "$1")/netns")
  if [ "$2" = clear ]; then
    qdisc_on "$ns" "$ifname" del root 2>/dev/null || true
    qdisc_on "$hostns" eth0 del root 2>/dev/null || true
    return 0
  fi
  [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] || die "rate $2: want whole Mbit/s >= 1"
  # both directions: toward the host (its bridge port) and from it (its eth0)
  qdisc_on "$ns" "$ifname" replace root tbf rate "${2}mbit" burst 64kb latency 200ms
  qdisc_on "$hostns" eth0 replace root tbf rate "${2}mbit" burst 64kb latency 200ms
}

cmd_sshd() { # stop|start name
  host_dir "$2" >/dev/null
  if [ "$1" = stop ]; then
    cmd_nsexec "$2" pkill -KILL -x sshd || true
    local t; for t in $(seq 100); do listening "$2" || return 0; sleep 0.05; done
    die "$2: sshd still listening"
  fi
  listening "$2" && return 0
  cmd_nsexec "$2" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    /usr/sbin/sshd -f /run/fleet/sshd_config -E /run/fleet/sshd.log
  wait_ready "$2"
}
