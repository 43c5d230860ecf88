# registry.sh - fleet instances for fleet.sh (sourced): ids, owners, clean-up.
#
# An instance id (0..254) is claimed by creating $REG/<id>/ (mkdir: atomic)
# under a lock, with the owner's pid and start time, before anything else of
# the instance exists; the entry is removed last. Every name of an instance
# carries its id ($PFX<id>-hI netns, $PFX<id>br bridge, $PFX<id>vI veths,
# $PFX<id>-* mount sources, an unreachable route with protocol $RT_PROTO), so
# an instance can be removed even when its control dir or registry entry is lost.

proc_start() { # pid -> its start time (clock ticks after boot): tells a reused PID apart
  local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }; set -- $s; echo "${20}"
}

owner_alive() { # registry entry dir -> true if the owning process still runs
  local pid start
  read -r pid start < "$1/owner" 2>/dev/null || return 1
  [ "$(proc_start "$pid" 2>/dev/null)" = "$start" ]
}

load_instance() { # sets ID and FLEET_DIR from FLEET_DIR or FLEET_ID
  if [ -n "${FLEET_DIR:-}" ]; then
    [ -f "$FLEET_DIR/id" ] || die "$FLEET_DIR/id missing: no fleet there"
    ID=$(cat "$FLEET_DIR/id")
  elif [ -n "${FLEET_ID:-}" ]; then
    ID=$FLEET_ID; FLEET_DIR=$(cat "$REG/$ID/dir" 2>/dev/null) || die "no fleet with id $ID"
  else
    die "set FLEET_DIR (or FLEET_ID) to say which fleet"
  fi
  CTL=$FLEET_DIR/ctl
}

id_free() { # id -> true if nothing on the machine uses its names or subnets
  [ ! -e "$REG/$1" ] || return 1
  ! ip link show "$PFX${1}br" >/dev/null 2>&1 || return 1
  ! ip netns list | grep -q "^$PFX$1-" || return 1
  [ -z "$(ip route show "$NET_A.$1.0/24")" ] || return 1
  [ -z "$(ip route show "$NET_B.$1.0/24")" ]
}

lock_registry() { # until unlock_registry: no other sweep or claim runs
  mkdir -p "$REG"
  exec 8>"$REG/.lock"
  flock 8
}
# before starting anything long-lived: children would inherit the lock
unlock_registry() { exec 8>&-; }

claim_id() { # -> sets ID; registry entry created atomically (mkdir)
  local c
  if [ -n "${FLEET_ID:-}" ]; then
    [[ $FLEET_ID =~ ^[0-9]+$ ]] && [ "$FLEET_ID" -le 254 ] || die "FLEET_ID=$FLEET_ID: want 0..254"
    id_free "$FLEET_ID" && mkdir "$REG/$FLEET_ID" 2>/dev/null || die "fleet id $FLEET_ID is in use ($REG/$FLEET_ID)"
    ID=$FLEET_ID; return 0
  fi
  for c in $(seq 1 254); do
    id_free "$c" && mkdir "$REG/$c" 2>/dev/null && { ID=$c; return 0; }
  done
  die "no free fleet id in $REG (run: fleet.sh sweep)"
}

# Remove every trace of instance $1 (dir $2 may be empty or gone): the names
# encode the id, so this works even when the control dir was lost.
cleanup_instance() {
  local id=$1 dir=${2:-} ns p t pids m
  [ -n "$dir" ] && [ "$(cat "$dir/id" 2>/dev/null)" = "$id" ] || dir=""
  local nss; nss=$(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$PFX$id-" || true)
  # every host process lives in its netns and (but for the launcher) is
  # chrooted into roots/hI: either finds it, even if someone deleted the netns
  # names. Killing a host's PID 1 (SIGKILL is the one signal a namespace init
  # cannot ignore) ends the whole host.
  for t in $(seq 50); do
    pids=""
    for ns in $nss; do pids="$pids $(ip netns pids "$ns" 2>/dev/null || true)"; done
    if [ -n "$dir" ]; then
      for p in /proc/[0-9]*; do
        case "$(readlink "$p/root" 2>/dev/null)" in "$dir"/roots/*) pids="$pids ${p#/proc/}" ;; esac
      done
    fi
    [ -z "${pids// /}" ] && break
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
  # mounts in the controller's namespace: overlays first (they use the state tmpfs)
  for m in $(awk -v s="^$PFX$id-" -v d="${dir:+$dir/}" \
      '$1 ~ s || (d != "" && index($2, d) == 1) {print length($2), $2}' /proc/self/mounts | sort -rn | cut -d' ' -f2); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "cannot unmount $m"
  done
  for ns in $nss; do ip netns del "$ns" 2>/dev/null || true; done
  ip link del "$PFX${id}br" 2>/dev/null || true
  ip route del unreachable "$NET_B.$id.0/24" proto $RT_PROTO 2>/dev/null || true
  for p in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$PFX${id}v" || true); do
    ip link del "$p" 2>/dev/null || true
  done
  # only a dir this script made (it holds our id), never across a mount
  if [ -n "$dir" ]; then
    if awk -v d="$dir/" 'index($2, d) == 1 {f=1} END {exit !f}' /proc/self/mounts; then
      log "mounts remain under $dir; not removing it"
    else
      rm -rf --one-file-system "$dir"
    fi
  fi
  rm -rf "${REG:?}/$id"
}

cmd_sweep() {
  local e id
  for e in "$REG"/*/; do
    [ -d "$e" ] || continue
    id=$(basename "$e")
    # no owner file: an `up` in its first milliseconds, or one killed right there
    if [ ! -f "$e/owner" ]; then [ -n "$(find "$e" -maxdepth 0 -mmin +1)" ] || continue
    elif owner_alive "$e"; then continue; fi
    log "sweeping fleet $id (owner $(cut -d' ' -f1 "$e/owner") is gone)"
    cleanup_instance "$id" "$(cat "$e/dir" 2>/dev/null || true)"
  done
  # names no registry entry claims: leftovers of a lost registry
  for id in $( { ip netns list 2>/dev/null | awk '{print $1}'; ip -o link show | awk -F': ' '{print $2}';
                 awk '{print $1}' /proc/self/mounts;
                 ip route show proto $RT_PROTO | sed -n "s/^unreachable $NET_B\.\([0-9]\+\)\.0.*/$PFX\1-/p"; } |
                 sed -n "s/^$PFX\([0-9]\+\)[-bv].*/\1/p" | sort -u); do
    [ -e "$REG/$id" ] && continue
    log "sweeping unregistered leftovers of fleet $id"
    cleanup_instance "$id" ""
  done
}
